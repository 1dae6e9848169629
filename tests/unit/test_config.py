"""Settings precedence and error messages."""

from __future__ import annotations

import pytest

from smprod.config import COARSE_KM, coarse_product_of, load_settings
from smprod.errors import ConfigError


def test_defaults_resolve_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.workdir == tmp_path / "smprod-work"
    assert settings.archive_dir == tmp_path / "smprod-work" / "archive"
    assert settings.coarse_km == 36
    assert settings.model_name == "smprod-downscaler"


def test_precedence_option_over_env_over_file(tmp_path, monkeypatch):
    toml = tmp_path / "smprod.toml"
    toml.write_text('coarse_product = "SPL3SMP_E"\nbbox = [-98, 35, -97, 36]\ntraining_window_days = 30\n')
    monkeypatch.setenv("SMPROD_BBOX", "-99,34,-96,37")
    settings = load_settings(toml)
    assert settings.coarse_product == "SPL3SMP_E"  # file
    assert settings.bbox == (-99.0, 34.0, -96.0, 37.0)  # env beats file
    assert settings.coarse_km == 9
    settings = load_settings(toml, bbox="-98.5,35,-97.5,36", training_window_days=None)
    assert settings.bbox == (-98.5, 35.0, -97.5, 36.0)  # option beats env
    assert settings.training_window_days == 30  # None options do not mask


@pytest.mark.parametrize(
    "env, value, fragment",
    [
        ("SMPROD_BBOX", "1,2,3", "bbox"),
        ("SMPROD_BBOX", "10,2,3,4", "bbox"),
        ("SMPROD_BBOX", "179,60,-179,62", "antimeridian"),
        ("SMPROD_BBOX", "10,86,12,88", "EASE-Grid 2.0"),
        ("SMPROD_BBOX", "10,-89,12,-86", "EASE-Grid 2.0"),
        ("SMPROD_COARSE_PRODUCT", "SPL2SMP", "coarse_product"),
        ("SMPROD_TRAINING_WINDOW_DAYS", "2", "training_window_days"),
        ("SMPROD_TERRAIN_BANDS", "0", "terrain_bands"),
        ("SMPROD_TERRAIN_BANDS", "6", "terrain_bands"),
        ("SMPROD_GAP_CORRECTION_KM", "-1", "gap_correction_km"),
        ("SMPROD_DAILY_CRON", "every day", "daily_cron"),
    ],
)
def test_invalid_setting_is_named(monkeypatch, env, value, fragment):
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError, match=fragment):
        load_settings()


def test_smprod_config_names_the_file_when_none_is_given(tmp_path, monkeypatch):
    """The flows' fallback load_settings() reads the same file as a command would."""
    toml = tmp_path / "smprod.toml"
    toml.write_text('coarse_product = "SPL3SMP_E"\ntraining_window_days = 30\n')
    monkeypatch.setenv("SMPROD_CONFIG", str(toml))
    monkeypatch.setenv("SMPROD_TRAINING_WINDOW_DAYS", "40")
    settings = load_settings()
    assert settings.coarse_product == "SPL3SMP_E"  # from the SMPROD_CONFIG file
    assert settings.training_window_days == 40  # environment beats the file
    assert load_settings(training_window_days=50).training_window_days == 50  # option beats both
    other = tmp_path / "other.toml"
    other.write_text('coarse_product = "SPL3SMP"\n')
    assert load_settings(other).coarse_product == "SPL3SMP"  # a given file beats SMPROD_CONFIG


def test_empty_smprod_config_means_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMPROD_CONFIG", "")
    assert load_settings().coarse_product == "SPL3SMP"


def test_missing_smprod_config_file_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SMPROD_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml does not exist .*SMPROD_CONFIG"):
        load_settings()


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_unknown_key_in_file_is_refused(tmp_path):
    toml = tmp_path / "smprod.toml"
    toml.write_text("workdri = 'x'\n")
    with pytest.raises(ConfigError, match="workdri"):
        load_settings(toml)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('workdir = "/srv/smprod"\nbbox = = 3\n', "is not valid TOML: Invalid value (at line 2, column 8)"),
        (
            'workdir = "/srv"\nbbox = [-100, 34, -98\n',
            "Unclosed array (at end of document), in what starts on line 2",
        ),
    ],
)
def test_toml_syntax_error_names_the_file_and_line(tmp_path, text, fragment):
    toml = tmp_path / "smprod.toml"
    toml.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    assert str(err.value).startswith(f"config file {toml} ")
    assert fragment in str(err.value)


def test_a_file_not_in_utf8_names_the_byte_and_line(tmp_path):
    toml = tmp_path / "smprod.toml"
    toml.write_bytes('model_name = "a"\nworkdir = "/srv/d\xe9p\xf4t"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"is not UTF-8 text: byte 0xe9 on line 2; save the file as UTF-8"):
        load_settings(toml)


@pytest.mark.parametrize("windows", ["validation_windows = []", "validation_windows = [30, 0]"])
def test_validation_windows_need_one_positive_window(tmp_path, windows):
    toml = tmp_path / "smprod.toml"
    toml.write_text(windows + "\n")
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    message = str(err.value)
    assert f"'validation_windows' (SMPROD_VALIDATION_WINDOWS, or validation_windows in {toml})" in message
    assert "e.g. [30, 90, 365]" in message


@pytest.mark.parametrize(
    ("bbox", "fragment"),
    [
        ("-98,34,-100,35.5", "minlon -98 > maxlon -100: the longitude pair looks swapped"),
        ("-100,35.5,-98,34", "minlat 35.5 > maxlat 34: the latitude pair looks swapped"),
        ("170,60,-175,62", "across the antimeridian"),
    ],
)
def test_reversed_bbox_pairs_say_what_is_wrong(bbox, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings(bbox=bbox)


def test_swapped_longitudes_give_the_bbox_in_order():
    with pytest.raises(ConfigError, match=r"e\.g\. -100,34,-98,35\.5"):
        load_settings(bbox="-98,34,-100,35.5")


def test_coarse_product_and_cell_size_map_both_ways():
    assert COARSE_KM == {"SPL3SMP": 36, "SPL3SMP_E": 9}
    assert [coarse_product_of(km) for km in (36, 9)] == ["SPL3SMP", "SPL3SMP_E"]
    assert load_settings(coarse_product="SPL3SMP_E").coarse_km == 9
    with pytest.raises(ValueError, match="3 km"):
        coarse_product_of(3)


@pytest.mark.parametrize(("product", "km"), [("SPL3SMP", "36"), ("SPL3SMP_E", "9"), ("SPL3SMP_E", "36")])
def test_conservation_km_can_be_set_in_the_environment(monkeypatch, product, km):
    """Environment values are text; a Literal of ints refused every one ("Input should be 9 or 36
    (got '36')") before the setting converted them."""
    monkeypatch.setenv("SMPROD_COARSE_PRODUCT", product)
    monkeypatch.setenv("SMPROD_CONSERVATION_KM", km)
    assert load_settings().conservation_km == int(km)
    monkeypatch.setenv("SMPROD_CONSERVATION_KM", "12")
    with pytest.raises(ConfigError, match=r"setting 'conservation_km' \(SMPROD_CONSERVATION_KM\)"):
        load_settings()


def test_a_rule_between_settings_is_named_by_its_settings_not_as_a_setting_called_settings(tmp_path):
    toml = tmp_path / "smprod.toml"
    toml.write_text("training_window_days = 10\nreanalysis_block_days = 30\n")
    with pytest.raises(ConfigError) as err:
        load_settings(toml)
    message = str(err.value)
    assert message == (
        "invalid settings:\n  reanalysis_block_days = 30 is longer than the training window "
        "(training_window_days = 10): a block's window holds the block (settings from "
        f"{toml}, the environment or the options)"
    )


@pytest.mark.parametrize("url", ["nonsense", "postgresql://smprod:S3cretPW@db.example:port/smprod"])
def test_a_malformed_database_url_is_named_without_repeating_it(monkeypatch, url):
    """Before, the first connection failed with SQLAlchemy's ArgumentError traceback (exit 1)."""
    monkeypatch.setenv("SMPROD_DATABASE_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "setting 'database_url' (SMPROD_DATABASE_URL): Value error, not a database URL" in message
    assert url not in message and "S3cretPW" not in message
