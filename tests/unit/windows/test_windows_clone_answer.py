"""Each Windows clone's computer name, in the answer files Windows reads after generalize."""

from __future__ import annotations

import pytest
from lxml import etree

from builder.errors import InputError
from builder.windows import cloneanswer

NS = {"u": cloneanswer.NS}

CACHED = b"""<?xml version="1.0" encoding="utf-8"?>
<unattend xmlns="urn:schemas-microsoft-com:unattend" xmlns:wcm="http://schemas.microsoft.com/WMIConfig/2002/State">
  <settings pass="generalize">
    <component name="Microsoft-Windows-PnpSysprep" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35"
               language="neutral" versionScope="nonSxS"><PersistAllDeviceInstalls>true</PersistAllDeviceInstalls>
    </component>
  </settings>
  <settings pass="specialize">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35"
               language="neutral" versionScope="nonSxS">
      <ComputerName>W2K19-GOLDEN</ComputerName>
      <TimeZone>UTC</TimeZone>
    </component>
  </settings>
  <settings pass="oobeSystem">
    <component name="Microsoft-Windows-Shell-Setup" processorArchitecture="amd64" publicKeyToken="31bf3856ad364e35"
               language="neutral" versionScope="nonSxS">
      <UserAccounts><AdministratorPassword><Value>*SENSITIVE*DATA*DELETED*</Value></AdministratorPassword></UserAccounts>
    </component>
  </settings>
</unattend>
"""


def names(data: bytes, pass_: str = "specialize") -> list[str]:
    return etree.fromstring(data).xpath(f"u:settings[@pass='{pass_}']//u:ComputerName/text()", namespaces=NS)


def test_the_cached_answer_file_gets_the_clone_name_and_keeps_everything_else():
    data, old = cloneanswer.set_computer_name(CACHED, "web-2")
    assert old == "W2K19-GOLDEN" and names(data) == ["web-2"]
    root = etree.fromstring(data)
    assert root.xpath("//u:TimeZone/text()", namespaces=NS) == ["UTC"]
    assert root.xpath("//u:PersistAllDeviceInstalls/text()", namespaces=NS) == ["true"]
    assert len(root.xpath("u:settings", namespaces=NS)) == 3


def test_a_specialize_pass_without_a_name_gets_one_and_a_file_without_that_pass_is_left_alone():
    no_name = CACHED.replace(b"<ComputerName>W2K19-GOLDEN</ComputerName>", b"")
    data, old = cloneanswer.set_computer_name(no_name, "web-3")
    assert old is None and names(data) == ["web-3"]
    only_oobe = CACHED.replace(b'pass="specialize"', b'pass="auditSystem"')
    assert cloneanswer.set_computer_name(only_oobe, "web-3") is None


@pytest.mark.parametrize("major, skips", [(6, {"SkipMachineOOBE", "SkipUserOOBE"}),
                                          (10, {"HideLocalAccountScreen", "HideOnlineAccountScreens"})])
def test_minimal_answer_names_the_clone_and_holds_no_secret(major, skips):
    data = cloneanswer.minimal_answer("web-1", "x86", major)
    root = etree.fromstring(data)
    assert names(data) == ["web-1"]
    comps = root.xpath("//u:component", namespaces=NS)
    assert {c.get("processorArchitecture") for c in comps} == {"x86"}
    assert {c.get("publicKeyToken") for c in comps} == {"31bf3856ad364e35"}
    oobe = {el.tag.split("}")[1] for el in root.xpath("//u:OOBE/*", namespaces=NS)}
    assert skips <= oobe and "HideEULAPage" in oobe
    assert b"Password" not in data and b"ProductKey" not in data


def test_sysprep_inf_computer_name_is_replaced_in_place_with_crlf():
    text = "[Unattended]\r\nOemSkipEula=Yes\r\n\r\n[UserData]\r\nFullName=\"Ops\"\r\nComputerName=*\r\n\r\n[Networking]\r\n"
    new, old = cloneanswer.set_sysprep_name(text, "XP-7")
    assert old == "*"
    assert new == "[Unattended]\r\nOemSkipEula=Yes\r\n\r\n[UserData]\r\nFullName=\"Ops\"\r\nComputerName=XP-7\r\n\r\n" \
                  "[Networking]\r\n"
    added, old = cloneanswer.set_sysprep_name("[Unattended]\r\nOemSkipEula=Yes\r\n", "XP-8")
    assert old is None and added.endswith("[UserData]\r\nComputerName=XP-8\r\n")
    section_only, _ = cloneanswer.set_sysprep_name("[UserData]\r\nFullName=x\r\n[GuiUnattended]\r\n", "XP-9")
    assert "[UserData]\r\nFullName=x\r\nComputerName=XP-9\r\n[GuiUnattended]" in section_only


@pytest.mark.parametrize("bad", ["a-very-long-name-1", "1234", "web_1", "web.example"])
def test_names_windows_cannot_take_are_refused(bad):
    with pytest.raises(InputError) as exc:
        cloneanswer.check_names(["ok-1", bad])
    assert exc.value.where == "--name" and bad in exc.value.message
