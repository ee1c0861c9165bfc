"""Unknown names in a contract (udfs/naming.py): table keys and field names, with a "did you mean"."""

from __future__ import annotations

from pathlib import Path

import pytest

from udfs.errors import ContractError
from udfs.naming import check_field, check_keys, close_match

PATH = Path("schemas/tickets/contract.toml")
RULE_KEYS = frozenset({"name", "field", "not_null", "min", "max", "max_length", "min_length"})
COLUMNS = {"ticket_id": 1, "customer_id": 2, "subject": 3, "status": 4}  # a mapping is checked by its keys


def key_error(table: dict[str, object], allowed: frozenset[str], **where_and_problem: str) -> ContractError:
    with pytest.raises(ContractError) as info:
        check_keys(table, allowed, path=PATH, **where_and_problem)
    return info.value


def field_error(field: object, columns: dict[str, int] = COLUMNS, where: str = "rules[0].field") -> ContractError:
    with pytest.raises(ContractError) as info:
        check_field(field, columns, path=PATH, where=where)
    return info.value


def test_close_match_is_the_most_similar_known_name_or_none() -> None:
    assert close_match("max_lenght", RULE_KEYS) == "max_length"
    assert close_match("min_length", ["max_length", "min_length"]) == "min_length"  # exact beats close
    assert close_match("feild", ["field", "fields"]) == "field"
    assert close_match("zzz", RULE_KEYS) is None
    assert close_match("", RULE_KEYS) is None
    assert close_match("anything", []) is None
    assert close_match(3, ["3", "4x"]) == "3"  # non-strings are compared by their text


def test_known_keys_pass_in_any_order() -> None:
    check_keys({}, RULE_KEYS, path=PATH)
    check_keys({"min": 0, "field": "x", "name": "n"}, RULE_KEYS, path=PATH, where="rules[0]")
    check_keys(["field"], RULE_KEYS, path=PATH)  # any iterable of keys


def test_unknown_key_at_top_level_renders_the_whole_message() -> None:
    error = key_error({"name": "x", "key_feild": "y"}, frozenset({"name", "key_field"}))
    assert (error.path, error.field, error.problem) == (PATH, "key_feild", "unknown key")
    assert str(error) == (
        "schemas/tickets/contract.toml: field 'key_feild': unknown key. Fix: remove it; did you mean 'key_field'?"
    )


def test_unknown_key_in_a_nested_table_with_its_own_problem() -> None:
    error = key_error({"field": "x", "maxlength": 3}, RULE_KEYS, where="rules[2]", problem="unknown rule key")
    assert (error.field, error.problem, error.fix) == (
        "rules[2].maxlength",
        "unknown rule key",
        "remove it; did you mean 'max_length'?",
    )


def test_without_a_close_key_the_fix_lists_the_allowed_keys_sorted() -> None:
    error = key_error({"zzz": 1}, RULE_KEYS, where="rules[0]")
    assert error.field == "rules[0].zzz"
    assert error.fix == "remove it; allowed keys: field, max, max_length, min, min_length, name, not_null"


def test_the_first_unknown_key_in_table_order_is_reported() -> None:
    assert key_error({"name": 1, "zzz": 2, "feild": 3}, RULE_KEYS).field == "zzz"
    assert key_error({"feild": 3, "zzz": 2}, RULE_KEYS).field == "feild"


def test_a_known_field_is_returned_as_it_is() -> None:
    assert check_field("subject", COLUMNS, path=PATH, where="pii.subject") == "subject"
    assert check_field("status", list(COLUMNS), path=PATH, where="x") == "status"


def test_unknown_field_with_a_close_column() -> None:
    error = field_error("subjct", where="pii.subjct")
    assert str(error) == (
        "schemas/tickets/contract.toml: field 'pii.subjct': field 'subjct' is not in the reader schema. "
        "Fix: name a top-level field of the last schema version; did you mean 'subject'?"
    )


def test_unknown_field_without_a_close_column_has_no_hint() -> None:
    error = field_error("zzz")
    assert (error.field, error.problem, error.fix) == (
        "rules[0].field",
        "field 'zzz' is not in the reader schema",
        "name a top-level field of the last schema version",
    )


@pytest.mark.parametrize(
    ("field", "shown"),
    [(3, "3"), (None, "None"), (True, "True"), (["subject"], "['subject']"), ({"a": 1}, "{'a': 1}")],
)
def test_a_non_string_field_is_never_a_column_and_shows_as_its_repr(field: object, shown: str) -> None:
    columns = {**COLUMNS, "3": 5, "True": 6, "None": 7}  # the text of the value would match
    error = field_error(field, columns)
    assert error.problem == f"field {shown} is not in the reader schema"


def test_a_string_field_shows_in_single_quotes_as_written() -> None:
    assert field_error("it's").problem == "field 'it's' is not in the reader schema"
    assert field_error("").problem == "field '' is not in the reader schema"


def test_the_hint_compares_the_text_of_any_value() -> None:
    assert field_error("Status").fix.endswith("; did you mean 'status'?")
    assert field_error(["status"]).fix.endswith("; did you mean 'status'?")  # a list where a name belongs
    assert field_error(12345).fix == "name a top-level field of the last schema version"
