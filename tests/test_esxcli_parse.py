"""esxcli results as ExecuteSoap returns them, parsed and mapped to typed facts: the shapes of
real ESXi answers (govmomi's captured fixtures: a struct directly in <obj>, lists as
ArrayOfDataObject, indented), nested structs with repeated fields, CLI faults, and results that
lack what the harness reads."""

from __future__ import annotations

import pytest

from harness.drivers.vsphere.esxcli import _argument, fault_messages, parse_result
from harness.drivers.vsphere.esxcli_map import EsxcliResultError, nics, ping, routes
from harness.facts.esxcli import PingRequest

OBJ = ('<obj xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
       'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:vim25" '
       'versionId="5.0" xsi:type="{}">{}</obj>')

# govmomi cli/esx/fixtures/system_hostname_get.xml, captured from a real host
HOSTNAME = OBJ.format("VimEsxCLIsystemhostnamegetFullyQualifiedHostName", """
 <DomainName>localdomain</DomainName>
 <FullyQualifiedDomainName>esxbox.localdomain</FullyQualifiedDomainName>
 <HostName>esxbox</HostName>
""")

ROUTES = OBJ.format("ArrayOfDataObject", """
<DataObject xsi:type="VimEsxCLInetworkiprouteipv4listRouteEntry">
<Gateway>198.18.50.1</Gateway><Interface>vmk4</Interface><Netmask>0.0.0.0</Netmask>
<Network>default</Network><Source>MANUAL</Source>
</DataObject>
<DataObject xsi:type="VimEsxCLInetworkiprouteipv4listRouteEntry">
<Gateway>0.0.0.0</Gateway><Interface>vmk4</Interface><Netmask>255.255.255.0</Netmask>
<Network>198.18.50.0</Network><Source>MANUAL</Source>
</DataObject>""")

PING = OBJ.format("ArrayOfDataObject", """
<DataObject xsi:type="VimEsxCLInetworkdiagpingPing">
<Summary>
<Duplicated>1</Duplicated><HostAddr>198.18.60.12</HostAddr><PacketLost>0</PacketLost>
<Recieved>2</Recieved><RoundtripAvg>120</RoundtripAvg><Transmitted>2</Transmitted>
</Summary>
<Trace>
<Detail></Detail><Dup>false</Dup><Host>198.18.60.12</Host><ICMPSeq>0</ICMPSeq>
<ReceivedBytes>1580</ReceivedBytes><RoundtripTime>110</RoundtripTime><TTL>63</TTL>
</Trace>
<Trace>
<Detail></Detail><Dup>true</Dup><Host>198.18.60.12</Host><ICMPSeq>0</ICMPSeq>
<ReceivedBytes>1580</ReceivedBytes><RoundtripTime>130</RoundtripTime><TTL>63</TTL>
</Trace>
</DataObject>""")

CLI_FAULT = ('<LocalizedMethodFault><fault xmlns:_XMLSchema-instance="http://www.w3.org/2001/'
             'XMLSchema-instance" _XMLSchema-instance:type="VimEsxCLICLIFault"><errMsg>sendto() '
             'failed (Message too long)</errMsg></fault><localizedMessage>EsxCLI.CLIFault.summary'
             '</localizedMessage></LocalizedMethodFault>')


def test_a_struct_a_list_and_a_scalar() -> None:
    assert parse_result(HOSTNAME) == {"DomainName": "localdomain", "HostName": "esxbox",
                                      "FullyQualifiedDomainName": "esxbox.localdomain"}
    got = routes(parse_result(ROUTES))
    assert [(r.network, r.interface, str(r.prefix)) for r in got] == [
        ("default", "vmk4", "0.0.0.0/0"), ("198.18.50.0", "vmk4", "198.18.50.0/24")]
    assert parse_result(OBJ.format("xsd:string", "hello")) == "hello"


def test_ping_summary_duplicates_and_trace() -> None:
    req = PingRequest("esx01", "198.18.60.12", netstack="vxlan", interface="vmk4", df=True,
                      size=1572)
    result = ping(req, parse_result(PING))
    assert (result.transmitted, result.received, result.duplicated) == (2, 2, 1)
    assert [t.dup for t in result.trace] == [False, True] and result.answered
    evidence = result.to_dict()
    assert evidence["command"] == ("esxcli network diag ping --host=198.18.60.12 "
                                   "--netstack=vxlan --interface=vmk4 --df --size=1572 --count=3")


def test_one_trace_entry_is_still_a_list() -> None:
    single = PING.replace(PING[PING.index("<Trace>", PING.index("</Trace>")):
                               PING.rindex("</Trace>") + len("</Trace>")], "")
    assert len(ping(PingRequest("a", "b"), parse_result(single)).trace) == 1


def test_cli_fault_messages_whatever_the_type_prefix() -> None:
    assert fault_messages(CLI_FAULT, "EsxCLI.CLIFault.summary") == (
        ["sendto() failed (Message too long)"], "VimEsxCLICLIFault")
    assert fault_messages("", "The object or item referred to could not be found.") == (
        ["The object or item referred to could not be found."], None)


def test_missing_field_names_command_and_field() -> None:
    with pytest.raises(EsxcliResultError, match=r"network nic list.*no field Driver"):
        nics(parse_result(OBJ.format("ArrayOfDataObject",
                                     "<DataObject><Name>vmnic0</Name></DataObject>")), {})


def test_arguments_travel_as_escaped_fragments() -> None:
    assert _argument("df", True) == ("<argument><name>df</name><val>&lt;df&gt;true&lt;/df&gt;"
                                     "</val></argument>")
    assert "&lt;host&gt;a&amp;amp;b&lt;/host&gt;" in _argument("host", "a&b")
    assert _argument("nicname", ["vmnic0", "vmnic1"]).count("&lt;nicname&gt;") == 2
