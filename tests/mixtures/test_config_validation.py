"""Config validation (issue 17.6): limits that would discard everything, duplicate keys and
absurd shard counts fail at load time with one line naming the field."""

from __future__ import annotations

import pytest

from mixtures.config import MAX_NUM_SHARDS, ConfigError, config_from_dict, load_config


@pytest.mark.parametrize(("section", "message"), [
    ({"github": {"max_file_bytes": -1}}, "github.max_file_bytes must be > 0, got -1"),
    ({"books": {"max_book_bytes": 0}}, "books.max_book_bytes must be > 0, got 0"),
    ({"arxiv": {"max_members": -1}}, "arxiv.max_members must be > 0, got -1"),
    ({"c4": {"max_page_chars": 0}}, "c4.max_page_chars must be > 0, got 0"),
    ({"extract": {"min_text_chars": -1}}, "extract.min_text_chars must be >= 0, got -1"),
    ({"models": {"quality": {"max_negatives": 0}}}, "models.quality.max_negatives must be >= 1"),
    ({"shards": {"num_shards": 1_000_000_000}},
     f"shards.num_shards must be <= {MAX_NUM_SHARDS:,}, got 1,000,000,000"),
])
def test_limits_that_discard_everything_are_refused(section, message):
    with pytest.raises(ConfigError) as err:
        config_from_dict(section)
    assert str(err.value) == message


def test_zero_is_kept_where_it_means_something():
    assert config_from_dict({"quarantine": {"max_step_share": 0}}).quarantine.max_step_share == 0.0
    assert config_from_dict({"line_dedup": {"min_doc_chars": 0}}).line_dedup.min_doc_chars == 0
    assert config_from_dict({"models": {"lm": {"max_docs": None}}}).models.lm.max_docs is None


def test_limits_in_a_file_name_the_file_and_the_field(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("output: out\ngithub:\n  max_file_bytes: -1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: github.max_file_bytes must be > 0, got -1"
    path.write_text("shards:\n  num_shards: 1e9\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: shards.num_shards: expected an integer, got '1e9'"


def test_duplicate_yaml_keys_name_the_key_and_both_lines(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("output: out\nshards:\n  num_shards: 2\n  write_dropped: false\n  num_shards: 8\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(err.value) == f"{path}: duplicate key 'num_shards' on line 5 (first on line 3)"
    assert "\n" not in str(err.value)
    path.write_text("output: a\noutput: b\n")
    with pytest.raises(ConfigError, match="duplicate key 'output' on line 2 \\(first on line 1\\)"):
        load_config(path)


def test_anchors_and_flow_mappings_still_load(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("shards: &s {num_shards: 2, write_dropped: false}\n"
                    "export: {seq_len: 16}\n"
                    "tokenizer: {vocab_size: 300}\n"
                    "models:\n  lm: &lm {order: 3}\n  quality: {epoch: 2}\n")
    cfg = load_config(path)
    assert (cfg.shards.num_shards, cfg.shards.write_dropped, cfg.models.lm.order) == (2, False, 3)
