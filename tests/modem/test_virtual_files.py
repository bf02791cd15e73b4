"""Quectel's UFS, the module's file storage (AT+QFLDS, AT+QFLST, AT+QFUPL, AT+QFDWL, AT+QFDEL), as
firmware drives it to put its certificates into the module: the upload's CONNECT and checksum, the
listings, the manual's 4xx errors, the storage's bound, names that are not file names."""

from __future__ import annotations

import pytest

from modem.virtual.core import VirtualModem
from modem.virtual.files import FileStore, xor16
from tests.modem.test_virtual_sockets import at, later, setup

OK = b"\r\nOK\r\n"


def bg96() -> VirtualModem:
    m, _ = setup("quectel-bg96")
    assert at(m, "AT+CMEE=1") == OK
    return m


def upload(m: VirtualModem, name: str, data: bytes, timeout: int = 5) -> bytes:
    assert at(m, f'AT+QFUPL="{name}",{len(data)},{timeout}') == b"\r\nCONNECT\r\n"
    m.feed(data, m.now)
    return m.take_output()


def test_checksum_is_the_xor_of_16_bit_words_an_odd_byte_high() -> None:
    assert xor16(b"") == 0
    assert xor16(b"ab") == 0x6162
    assert xor16(b"abc") == 0x6162 ^ 0x6300  # "set the last character as the high 8 bit"
    assert xor16(b"abab") == 0


def test_upload_answers_size_and_checksum_and_the_file_is_listed_and_read_back() -> None:
    m = bg96()
    data = bytes(range(256)) * 4 + b"\r\nAT\x1a+++"  # any byte, an AT line and Ctrl-Z too
    assert (
        upload(m, "UFS:cacert.pem", data) == f"\r\n+QFUPL: {len(data)},{xor16(data):x}\r\n\r\nOK\r\n".encode()
    )
    assert upload(m, "key.pem", b"abc") == b"\r\n+QFUPL: 3,262\r\n\r\nOK\r\n"
    assert at(m, "AT+QFLST") == (
        f'\r\n+QFLST: "cacert.pem",{len(data)}\r\n+QFLST: "key.pem",3\r\n\r\nOK\r\n'.encode()
    )
    assert at(m, 'AT+QFLST="*.pem"') == at(m, "AT+QFLST")
    assert at(m, 'AT+QFLST="UFS:key.pem"') == b'\r\n+QFLST: "key.pem",3\r\n\r\nOK\r\n'
    assert at(m, "AT+QFLDS") == f"\r\n+QFLDS: {len(data) + 3},2\r\n\r\nOK\r\n".encode()
    assert (
        at(m, 'AT+QFLDS="UFS"') == f"\r\n+QFLDS: {12_987_840 - len(data) - 3},14483456\r\n\r\nOK\r\n".encode()
    )
    assert at(m, 'AT+QFDWL="cacert.pem"') == (
        b"\r\nCONNECT\r\n" + data + f"\r\n+QFDWL: {len(data)},{xor16(data):x}\r\n\r\nOK\r\n".encode()
    )
    assert at(m, 'AT+QFDEL="cacert.pem"') == OK
    assert at(m, "AT+QFLST") == b'\r\n+QFLST: "key.pem",3\r\n\r\nOK\r\n'
    assert at(m, 'AT+QFDEL="*"') == OK
    assert at(m, "AT+QFLST") == OK


def test_errors_are_the_manual_s_4xx_codes() -> None:
    m = bg96()
    assert upload(m, "a.pem", b"x") == b"\r\n+QFUPL: 1,7800\r\n\r\nOK\r\n"
    assert at(m, 'AT+QFUPL="a.pem",1') == b"\r\n+CME ERROR: 407\r\n"  # file already existed
    assert at(m, 'AT+QFUPL="b.pem",0') == b"\r\n+CME ERROR: 400\r\n"  # invalid input value
    assert at(m, 'AT+QFUPL="b.pem",12987840') == b"\r\n+CME ERROR: 420\r\n"  # no space (1 byte used)
    assert at(m, 'AT+QFDWL="b.pem"') == b"\r\n+CME ERROR: 405\r\n"  # file not found
    assert at(m, 'AT+QFDEL="b.pem"') == b"\r\n+CME ERROR: 405\r\n"
    assert at(m, 'AT+QFLST="b.pem"') == b"\r\n+CME ERROR: 405\r\n"
    assert at(m, 'AT+QFLDS="RAM"') == b"\r\n+CME ERROR: 400\r\n"
    assert at(m, 'AT+QFUPL="c.pem",10,5,1') == b"\r\nERROR\r\n"  # ACK mode: not emulated
    assert at(m, "AT+QFLST") == b'\r\n+QFLST: "a.pem",1\r\n\r\nOK\r\n'  # nothing else was made


@pytest.mark.parametrize(
    "name",
    ["../../etc/x", "..", "/etc/passwd", "a/b.pem", "C:\\\\User\\\\ca.crt", "RAM:x.pem", "", "n" * 81],
)
def test_a_name_that_is_no_file_name_is_refused_and_reaches_nothing(name: str) -> None:
    m = bg96()
    assert at(m, f'AT+QFUPL="{name}",3') == b"\r\n+CME ERROR: 406\r\n"
    assert at(m, f'AT+QFDWL="{name}"') == b"\r\n+CME ERROR: 406\r\n"
    assert at(m, f'AT+QFDEL="{name}"') == b"\r\n+CME ERROR: 406\r\n"
    assert at(m, "AT+QFLST") == OK  # nothing stored, and the modem reads its commands again


def test_the_storage_is_bounded_by_its_free_space() -> None:
    store = FileStore(capacity=10, total=20)
    store.write("a", b"12345678")
    with pytest.raises(ValueError):
        store.write("b", b"123")  # 8 + 3 > 10
    store.write("a", b"1234567890")  # a file replaced: its old bytes are free again
    assert store.free == 0
    m = bg96()
    name = "n" * 80  # the manual's longest name
    assert upload(m, name, b"ab").startswith(b"\r\n+QFUPL: 2,6162\r\n")


def test_an_upload_that_stops_times_out_with_421_and_stores_nothing() -> None:
    m = bg96()
    assert at(m, 'AT+QFUPL="slow.pem",10,2') == b"\r\nCONNECT\r\n"
    m.feed(b"12345", m.now + 1.5)  # some bytes within the timeout: the clock starts again
    assert later(m, 1.0) == b""
    assert later(m, 1.1) == b"\r\n+CME ERROR: 421\r\n"  # 2 s without a byte
    assert at(m, "AT+QFLST") == OK
    assert upload(m, "slow.pem", b"ab") == b"\r\n+QFUPL: 2,6162\r\n\r\nOK\r\n"  # the name is free


def test_the_files_outlive_a_reset_its_open_handles_do_not_and_each_modem_has_its_own() -> None:
    m = bg96()
    assert upload(m, "cacert.pem", b"ab").endswith(OK)
    assert at(m, 'AT+QFOPEN="cacert.pem",2') == b"\r\n+QFOPEN: 1\r\n\r\nOK\r\n"
    assert at(m, "AT+CFUN=1,1").endswith(OK)
    later(m, 30.0)
    at(m, "ATE0")  # the reset brought back the profile's settings
    assert at(m, "AT+QFLST") == b'\r\n+QFLST: "cacert.pem",2\r\n\r\nOK\r\n'
    assert at(m, "AT+CMEE=1;+QFCLOSE=1") == b"\r\n+CME ERROR: 416\r\n"  # what was open is closed
    other = bg96()
    assert at(other, "AT+QFLST") == OK


def test_open_write_seek_read_close_through_a_file_handle() -> None:
    m = bg96()
    assert at(m, 'AT+QFOPEN="UFS:client.key",0') == b"\r\n+QFOPEN: 1\r\n\r\nOK\r\n"  # created
    assert at(m, 'AT+QFOPEN="client.key"') == b"\r\n+CME ERROR: 426\r\n"  # already opened
    assert at(m, "AT+QFOPEN?") == b'\r\n+QFOPEN: "client.key",1,0\r\n\r\nOK\r\n'
    assert at(m, "AT+QFWRITE=1,5") == b"\r\nCONNECT\r\n"
    m.feed(b"hello", m.now)
    assert m.take_output() == b"\r\n+QFWRITE: 5,5\r\n\r\nOK\r\n"
    assert at(m, "AT+QFPOSITION=1") == b"\r\n+QFPOSITION: 5\r\n\r\nOK\r\n"
    assert at(m, "AT+QFSEEK=1,1,0") == OK
    assert at(m, "AT+QFREAD=1,3") == b"\r\nCONNECT 3\r\nell\r\n\r\nOK\r\n"
    assert at(m, "AT+QFSEEK=1,9,0") == b"\r\nERROR\r\n"  # past the end
    assert at(m, "AT+QFSEEK=1,0,2") == OK
    assert at(m, "AT+QFWRITE=1,2") == b"\r\nCONNECT\r\n"
    m.feed(b"!!", m.now)
    assert m.take_output() == b"\r\n+QFWRITE: 2,7\r\n\r\nOK\r\n"
    assert at(m, "AT+QFCLOSE=1") == OK
    assert at(m, "AT+QFCLOSE=1") == b"\r\n+CME ERROR: 416\r\n"  # no longer open
    assert at(m, 'AT+QFDWL="client.key"') == b"\r\nCONNECT\r\nhello!!\r\n+QFDWL: 7,%x\r\n\r\nOK\r\n" % xor16(
        b"hello!!"
    )
    assert at(m, 'AT+QFOPEN="client.key",2') == b"\r\n+QFOPEN: 2\r\n\r\nOK\r\n"  # read only
    assert at(m, "AT+QFWRITE=2,1") == b"\r\n+CME ERROR: 414\r\n"
    assert at(m, "AT+QFREAD=2") == b"\r\nCONNECT 7\r\nhello!!\r\n\r\nOK\r\n"
    assert at(m, 'AT+QFOPEN="none.pem",2') == b"\r\n+CME ERROR: 405\r\n"
    assert at(m, 'AT+QFOPEN="client.key",1') == b"\r\n+CME ERROR: 426\r\n"
    assert at(m, "AT+QFCLOSE=2") == OK
    assert at(m, 'AT+QFOPEN="client.key",1') == b"\r\n+QFOPEN: 3\r\n\r\nOK\r\n"  # truncated
    assert at(m, 'AT+QFLST="client.key"') == b'\r\n+QFLST: "client.key",0\r\n\r\nOK\r\n'


def test_an_upload_cut_by_a_reset_does_not_time_out_a_later_prompt() -> None:
    m = bg96()
    assert at(m, 'AT+QFUPL="a.pem",10,3') == b"\r\nCONNECT\r\n"
    m.restart()  # the console's power reset: the upload is gone with the module's state
    later(m, 30.0)
    at(m, "ATE0;+CMEE=1")
    assert at(m, 'AT+QFUPL="b.pem",4,60') == b"\r\nCONNECT\r\n"
    assert later(m, 10.0) == b""  # the first upload's 3 s are long past: nothing ends this one
    m.feed(b"abcd", m.now)
    assert m.take_output() == b"\r\n+QFUPL: 4,%x\r\n\r\nOK\r\n" % xor16(b"abcd")
    assert at(m, "AT+QFLST") == b'\r\n+QFLST: "b.pem",4\r\n\r\nOK\r\n'
