"""Multi-step procedures that change a lab carefully (each guarded, verified, undone on loss)."""
