"""EarthdataSource at the HTTP boundary: earthaccess talks to served CMR, URS and DAAC answers.

Nothing of smprod or earthaccess is patched; the `responses` library answers the HTTP requests
earthaccess and smprod really make (URS token and profile, CMR ``granules.umm_json``, the DAAC
data URL) with recorded answers from ``data/earthdata``. There is no network here: any request
not answered below fails, like a real outage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import earthaccess
import pytest
import responses

from smprod.errors import ConfigError, DownloadError, GranuleChecksumError
from smprod.inputs.sources.base import GranuleQuery
from smprod.inputs.sources.earthdata import EarthdataSource, ref_from_umm, safe_url

pytestmark = [
    pytest.mark.integration,
    # earthaccess 0.17 calls its own deprecated DataGranule.size() for every search result.
    pytest.mark.filterwarnings("ignore:As of version 1.0, `DataGranule.size`:FutureWarning"),
]

DATA = Path(__file__).parent / "data" / "earthdata"
CMR = "https://cmr.earthdata.nasa.gov/search/granules.umm_json"
URS_TOKEN = "https://urs.earthdata.nasa.gov/api/users/find_or_create_token"
URS_PROFILE = "https://urs.earthdata.nasa.gov/profile"
USER, PASSWORD, TOKEN = "smprod-tester", "pw-Never-Log-Me-83", "tok-Never-Log-Me-5521"
BBOX = (-100.0, 34.0, -96.0, 37.0)
DAY = date(2024, 6, 1)
SMAP = "SMAP_L3_SM_P_20240601_R19240_001.h5"
IMERG = "3B-DAY-L.MS.MRG.3IMERG.20240601-S000000-E235959.V07B.nc4"


def payload(name: str, size: int) -> bytes:
    """The bytes whose size and checksum the recorded CMR answers hold (see data/README.md)."""
    block = hashlib.sha256(name.encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def _recorded(product: str) -> dict:
    return json.loads((DATA / f"cmr_granules_{product}.umm_json").read_text())


def _data_url(product: str) -> tuple[str, int]:
    item = _recorded(product)["items"][0]["umm"]
    url = next(u["URL"] for u in item["RelatedUrls"] if u["Type"] == "GET DATA")
    return url, item["DataGranule"]["ArchiveAndDistributionInformation"][0]["SizeInBytes"]


@pytest.fixture
def fresh_earthaccess(monkeypatch, tmp_path):
    """earthaccess keeps its login in module globals: start every test logged out, no .netrc."""
    monkeypatch.setattr(earthaccess, "_auth", earthaccess.Auth())
    vars(earthaccess).pop("__store__", None)  # earthaccess.login() sets it as a module attribute
    for var in ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "EARTHDATA_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no.netrc"))
    yield
    vars(earthaccess).pop("__store__", None)


@pytest.fixture
def earthdata(fresh_earthaccess, monkeypatch):
    """URS and CMR as earthaccess calls them; credentials in the environment."""
    monkeypatch.setenv("EARTHDATA_USERNAME", USER)
    monkeypatch.setenv("EARTHDATA_PASSWORD", PASSWORD)
    searches: list[dict] = []

    def cmr(request):
        query = parse_qs(urlsplit(request.url).query)
        searches.append(query)
        body = _recorded(query["short_name"][0])
        return 200, {"CMR-Hits": str(body["hits"]), "Content-Type": "application/json"}, json.dumps(body)

    def token(request):
        if request.headers.get("Authorization", "").startswith("Basic "):
            answer = json.loads((DATA / "urs_find_or_create_token.json").read_text())
            return 200, {}, json.dumps({**answer, "access_token": TOKEN})
        return 401, {}, json.dumps({"error": "invalid_credentials"})

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_callback(responses.POST, URS_TOKEN, callback=token)
        mock.add(responses.GET, URS_PROFILE, json={"uid": USER})
        mock.add_callback(responses.GET, CMR, callback=cmr)
        mock.searches = searches  # type: ignore[attr-defined]
        yield mock


def _serve(mock, product: str, *bodies) -> None:
    """Serve the product's data URL: each body once in turn (int = HTTP status); needs the token."""
    url, _size = _data_url(product)
    answers = list(bodies)

    def data(request):
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {}, "Earthdata Login required"
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        return (answer, {}, "busy") if isinstance(answer, int) else (200, {}, answer)

    mock.add_callback(responses.GET, url, callback=data)


def _query(*products):
    return GranuleQuery(products, DAY, DAY, BBOX)


def test_search_passes_cmr_parameters_and_reads_size_and_checksum(earthdata, tmp_path):
    source = EarthdataSource(tmp_path / "archive")
    (ref,) = source.find(_query("SPL3SMP"))
    assert ref.name == SMAP and ref.path is None
    assert ref.url.endswith(f"/SMAP/SPL3SMP/009/2024/06/01/{SMAP}")
    assert ref.size == 70001 and ref.checksum_algorithm == "MD5"
    assert ref.checksum == hashlib.md5(payload(SMAP, 70001)).hexdigest()
    query = earthdata.searches[-1]
    assert query["short_name"] == ["SPL3SMP"] and query["version"] == ["009"]
    assert query["temporal[]"] == ["2024-06-01T00:00:00Z,2024-06-01T23:59:59Z"]
    assert query["bounding_box"] == ["-100.0,34.0,-96.0,37.0"]


def test_download_goes_into_the_archive_verified_and_is_cached(earthdata, tmp_path):
    _serve(earthdata, "SPL3SMP", payload(SMAP, 70001))
    _serve(earthdata, "GPM_3IMERGDL", payload(IMERG, 50003))
    source = EarthdataSource(tmp_path / "archive")
    refs = source.find(_query("SPL3SMP", "GPM_3IMERGDL"))
    paths = [source.fetch(ref) for ref in refs]
    assert paths == [
        tmp_path / "archive/GPM_3IMERGDL/2024" / IMERG,  # SHA-512 checked
        tmp_path / "archive/SPL3SMP/2024" / SMAP,  # MD5 checked
    ]
    assert paths[1].read_bytes() == payload(SMAP, 70001)
    assert sorted(p.name for p in paths[1].parent.iterdir()) == [SMAP]  # no temporary left
    downloads = sum(1 for call in earthdata.calls if call.request.url.endswith(SMAP))
    # Found again: the archive copy answers, nothing is downloaded twice.
    (again,) = EarthdataSource(tmp_path / "archive").find(_query("SPL3SMP"))
    assert again.path == paths[1] and again.url is not None
    assert EarthdataSource(tmp_path / "archive").fetch(again) == paths[1]
    assert sum(1 for call in earthdata.calls if call.request.url.endswith(SMAP)) == downloads


@pytest.mark.parametrize(
    ("served", "match"),
    [(b"short", "downloaded 5 bytes, CMR reports 70001"), (b"x" * 70001, "MD5 [0-9a-f]+ differs from CMR's")],
)
def test_size_or_checksum_mismatch_raises_and_leaves_no_file(earthdata, tmp_path, served, match):
    _serve(earthdata, "SPL3SMP", served)
    source = EarthdataSource(tmp_path / "archive", sleep=lambda s: None)
    (ref,) = source.find(_query("SPL3SMP"))
    with pytest.raises(GranuleChecksumError, match=match):
        source.fetch(ref)
    target = source.target(ref)
    assert not target.exists() and list(target.parent.iterdir()) == []


def test_transient_503_is_retried_with_backoff(earthdata, tmp_path):
    _serve(earthdata, "SPL3SMP", 503, 503, payload(SMAP, 70001))
    waits: list[float] = []
    source = EarthdataSource(tmp_path / "archive", backoff_s=0.5, sleep=waits.append)
    (ref,) = source.find(_query("SPL3SMP"))
    assert source.fetch(ref).read_bytes() == payload(SMAP, 70001)
    assert waits == [0.5, 1.0]  # exponential: base * 2**(attempt-1)


def test_persistent_failure_and_permanent_errors(earthdata, tmp_path):
    _serve(earthdata, "SPL3SMP", 503)
    waits: list[float] = []
    source = EarthdataSource(tmp_path / "archive", attempts=3, sleep=waits.append)
    (ref,) = source.find(_query("SPL3SMP"))
    with pytest.raises(DownloadError, match="3 attempts failed, last: HTTP 503"):
        source.fetch(ref)
    assert len(waits) == 2
    _serve(earthdata, "GPM_3IMERGDL", 404)
    (imerg,) = source.find(_query("GPM_3IMERGDL"))
    with pytest.raises(DownloadError, match=r"HTTP 404 from https://data\.gesdisc"):
        source.fetch(imerg)
    assert len(waits) == 2  # a 404 is not retried


def test_credentials_and_tokens_never_reach_the_logs(earthdata, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    _serve(earthdata, "SPL3SMP", 503, payload(SMAP, 70001))
    source = EarthdataSource(tmp_path / "archive", sleep=lambda s: None)
    (ref,) = source.find(_query("SPL3SMP"))
    source.fetch(ref)
    assert "logged in to Earthdata Login (strategy environment)" in caplog.text
    assert f"downloaded {SMAP}" in caplog.text
    for secret in (PASSWORD, TOKEN, USER):
        assert secret not in caplog.text


def test_netrc_is_the_fallback_and_missing_credentials_are_a_config_error(earthdata, monkeypatch, tmp_path):
    monkeypatch.delenv("EARTHDATA_USERNAME")
    monkeypatch.delenv("EARTHDATA_PASSWORD")
    source = EarthdataSource(tmp_path / "archive")
    with pytest.raises(ConfigError, match=r"no Earthdata credentials.*netrc"):
        source.session()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    session = source.session()
    assert session.headers["Authorization"] == f"Bearer {TOKEN}"


def test_rejected_credentials_are_a_config_error(earthdata, monkeypatch, tmp_path):
    earthdata.replace(responses.POST, URS_TOKEN, status=401, json={"error": "invalid_credentials"})
    with pytest.raises(ConfigError, match="rejected the credentials from the 'environment'"):
        EarthdataSource(tmp_path / "archive").session()


def test_cmr_outage_is_retried_then_a_download_error(fresh_earthaccess, tmp_path):
    waits: list[float] = []
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, CMR, status=503, body="Service Unavailable")
        with pytest.raises(DownloadError, match="CMR search for SPL3SMP failed"):
            EarthdataSource(tmp_path, attempts=2, sleep=waits.append).find(_query("SPL3SMP"))
    assert waits == [2.0]


def test_umm_records_without_a_readable_data_file_are_skipped():
    item = _recorded("SPL3SMP")["items"][0]
    links = [u for u in item["umm"]["RelatedUrls"] if not u["URL"].endswith(".h5")]
    assert ref_from_umm({"umm": {**item["umm"], "RelatedUrls": links}}) is None
    assert safe_url("https://u:p@host.example/a/b.h5?X-Amz-Signature=abc#f") == "https://host.example/a/b.h5"
