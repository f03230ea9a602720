"""The simulated lab's data plane: real kernel networking in network namespaces."""
