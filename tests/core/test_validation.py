"""The input contract, column by column and row by row."""
import numpy as np
import pandas as pd
import pytest

from webapp.core.contract import REQUIRED_COLUMNS
from webapp.core.errors import DuplicateColumns, MissingColumns
from webapp.core.limits import Limits
from webapp.core.validation import Contract, check_chunk, match_columns


@pytest.fixture(scope="module")
def contract(loaded_model):
    return Contract.from_card(loaded_model.card)


def test_headers_match_in_any_spelling_and_order():
    columns = [" loan id ", "GENDER", "married", "dependents", "Education", "self-employed", "applicant income",
               "Coapplicant_Income", "Loan Amount", "loan-amount-term", "CREDIT_HISTORY", "property_area", "Branch"]
    plan = match_columns(list(reversed(columns)))
    assert plan.positions["Loan_ID"] == 12 and plan.positions["Property_Area"] == 1
    assert plan.extra_columns == {0: "Branch"}


def test_missing_columns_are_named_with_what_was_found():
    with pytest.raises(MissingColumns) as caught:
        match_columns(["Loan_ID", "Gender", "Extra"])
    error = caught.value
    assert error.details["missing_columns"] == list(REQUIRED_COLUMNS[1:])
    assert error.details["optional_columns"] == ["Gender", "Married", "Dependents"]
    assert error.details["found_columns"] == ["Loan_ID", "Gender", "Extra"]
    assert error.message.startswith("Missing columns: Education, Self_Employed") and "Found: Loan_ID, Gender, Extra" in error.message


def test_a_file_without_a_header_is_told_so_without_echoing_its_first_application():
    first_row = ["LP001002", "Male", "Yes", "2", "Graduate", "No", "5849", "1508", "128", "360", "1", "Urban"]
    with pytest.raises(MissingColumns) as caught:
        match_columns(first_row)
    error = caught.value
    assert "looks like an application, not a header (6 of its cells are numbers)" in error.message
    shown = error.message + repr(error.details)
    assert not any(cell in shown for cell in ("LP001002", "Male", "5849", "1508", "Urban"))
    assert error.details["found_columns"] == [] and error.details["header_looks_like_data"] is True


def test_a_header_with_one_number_among_its_names_is_still_a_header_and_its_misspelt_name_is_shown():
    header = ["Loan_ID", "Gender", "Married", "Dependents", "Education", "Self_Employed", "ApplicantIncom",
              "CoapplicantIncome", "LoanAmount", "Loan_Amount_Term", "Credit_History", "Property_Area", "2024"]
    with pytest.raises(MissingColumns) as caught:
        match_columns(header)
    error = caught.value
    assert error.details["missing_columns"] == ["ApplicantIncome"]
    assert "ApplicantIncom" in error.details["found_columns"] and "Found: Loan_ID" in error.message
    assert "looks like an application" not in error.message and "header_looks_like_data" not in error.details


@pytest.mark.parametrize("amounts", [["5,849", "1,508"], ["$5,849.00", "£1508"], ["5849", "€ 1,508"],
                                     ["5849", ""]])  # one number, and no cell names a column
def test_a_first_application_with_amounts_written_as_people_write_them_is_not_echoed(amounts):
    first_row = ["LP001002", "Dana Smith", "12 High St", *amounts, "", "", "", "Urban"]
    with pytest.raises(MissingColumns) as caught:
        match_columns(first_row)
    error = caught.value
    assert error.details["header_looks_like_data"] is True and error.details["found_columns"] == []
    shown = error.message + repr(error.details)
    assert not any(cell in shown for cell in ("Dana Smith", "12 High St", "5,849", "Urban"))


def test_duplicate_columns_after_normalisation():
    with pytest.raises(DuplicateColumns, match="Gender \\('Gender', 'gender'\\)"):
        match_columns([*REQUIRED_COLUMNS, "Gender", "gender"])


GOOD = {"Loan_ID": "LP1", "Gender": "Male", "Married": "Yes", "Dependents": "0", "Education": "Graduate",
        "Self_Employed": "No", "ApplicantIncome": "5720", "CoapplicantIncome": "0", "LoanAmount": "110",
        "Loan_Amount_Term": "360", "Credit_History": "1", "Property_Area": "Urban"}


def check(contract, **changes):
    frame = pd.DataFrame([{**GOOD, **changes}], dtype=object)
    frame.columns = range(len(frame.columns))
    return check_chunk(frame, match_columns(list(GOOD)), contract, Limits())


@pytest.mark.parametrize(("changes", "canonical"), [
    ({"Gender": "male"}, {"Gender": "Male"}),
    ({"Dependents": "3"}, {"Dependents": "3+"}),
    ({"Dependents": "3+"}, {"Dependents": "3+"}),
    ({"Education": "not graduate"}, {"Education": "Not Graduate"}),
    ({"Property_Area": " SEMIURBAN "}, {"Property_Area": "Semiurban"}),
    ({"Gender": "", "LoanAmount": "", "Credit_History": "NA"}, {"Gender": np.nan}),
    ({"ApplicantIncome": " 5720 ", "Credit_History": "1.0"}, {"ApplicantIncome": 5720.0, "Credit_History": 1.0}),
])
def test_valid_rows_are_normalised(contract, changes, canonical):
    checked = check(contract, **changes)
    assert checked.errors[0] == ""
    for name, value in canonical.items():
        # Monitored-only attributes never reach the model: they are kept as groups for the parity report.
        got = checked.features[name][0] if name in checked.features else checked.monitored[name][0]
        assert got == value or (pd.isna(value) and pd.isna(got))


@pytest.mark.parametrize(("changes", "message"), [
    ({"Property_Area": "Mars"}, "Property_Area: not one of Rural, Semiurban, Urban"),
    ({"Education": "PhD"}, "Education: not one of Graduate, Not Graduate"),
    ({"ApplicantIncome": "-5"}, "ApplicantIncome: must not be negative"),
    ({"LoanAmount": "lots"}, "LoanAmount: not a number"),
    ({"LoanAmount": "1e309"}, "LoanAmount: not a finite number"),
    ({"LoanAmount": "1e308"}, "LoanAmount: must not be larger than 1,000,000"),
    ({"Credit_History": "2"}, "Credit_History: must be 0 or 1"),
    ({"Loan_ID": "  "}, "Loan_ID: must not be empty"),
    ({"Education": "x" * 5000}, "Education: not one of Graduate, Not Graduate"),
])
def test_impossible_values_are_row_errors(contract, changes, message):
    checked = check(contract, **changes)
    assert message in checked.errors[0]
    assert not checked.valid[0]


@pytest.mark.parametrize("cell", [True, False, np.True_])
def test_a_boolean_is_not_a_number_though_pandas_reads_true_as_one(contract, cell):
    checked = check(contract, ApplicantIncome=cell, LoanAmount=cell)
    assert not checked.valid[0]
    assert "ApplicantIncome: not a number" in checked.errors[0]
    assert "LoanAmount: not a number" in checked.errors[0]


def test_a_boolean_column_of_a_csv_is_not_numbers(contract):
    frame = pd.DataFrame([GOOD, GOOD], dtype=object)
    frame["ApplicantIncome"] = pd.Series([True, False], dtype=bool)
    frame.columns = range(len(frame.columns))
    checked = check_chunk(frame, match_columns(list(GOOD)), contract, Limits())
    assert [error == "ApplicantIncome: not a number" for error in checked.errors] == \
        [True, True]


@pytest.mark.parametrize("order", [[0, False], [False, 0], [1, True], [True, 1.0]])
def test_a_boolean_and_the_number_it_equals_are_two_values_in_either_order(contract, order):
    frame = pd.DataFrame([{**GOOD, "Loan_ID": f"L{i}", "Dependents": value, "Education": value}
                          for i, value in enumerate(order)], dtype=object)
    frame.columns = range(len(frame.columns))
    checked = check_chunk(frame, match_columns(list(GOOD)), contract, Limits())
    number = next(i for i, value in enumerate(order) if type(value) is not bool)  # positions: 0 == False
    boolean = 1 - number
    groups = list(checked.monitored["Dependents"].astype(object))
    assert groups[number] == str(int(order[number])) and groups[boolean] == "(not recognised)"
    # Neither value is an education, and a monitored attribute's value is never quoted.
    assert checked.errors[boolean] == checked.errors[number] == "Education: not one of Graduate, Not Graduate"


def test_all_problems_of_a_row_are_listed(contract):
    error = check(contract, Property_Area="Mars", Credit_History="7").errors[0]
    assert error == "Credit_History: must be 0 or 1; Property_Area: not one of Rural, Semiurban, Urban"


def test_a_category_quotes_the_value_unless_the_attribute_is_monitored(contract):
    """Monitored attributes (the fair-lending groups) are personal data; a category that is not
    monitored quotes what was given, cut to 40 characters."""
    spec = {**contract.features["Property_Area"], "monitored": False}
    unmonitored = Contract({**contract.features, "Property_Area": spec}, contract.allowed)
    assert "Property_Area: 'Mars' is not one of" in check(unmonitored, Property_Area="Mars").errors[0]
    assert "Mars" not in check(contract, Property_Area="Mars").errors[0]


@pytest.mark.parametrize("cell", ["-5720", "5720 dollars", "1e309", "57200000000"])
def test_an_amount_that_breaks_a_rule_is_never_echoed(contract, cell):
    """Incomes are personal data: the message names the column and the rule, not the value."""
    error = check(contract, ApplicantIncome=cell).errors[0]
    assert error.startswith("ApplicantIncome: ") and "5720" not in error and "inf" not in error


def test_an_overlong_id_is_echoed_as_its_first_forty_characters(contract):
    checked = check(contract, Loan_ID="L" * 5000)
    assert checked.errors[0] == "Loan_ID: longer than 1000 characters"
    assert checked.ids.tolist() == ["L" * 40 + "…"]


def test_a_number_too_large_for_a_float_is_that_rows_error(contract):
    checked = check(contract, LoanAmount=10 ** 310)
    assert "LoanAmount:" in checked.errors[0] and not checked.valid[0]


@pytest.mark.parametrize("cells", [["-0", 1.5], ["-0", "5"], ["-0", None], ["007", 2.5], ["12", None, 3],
                                   ["2066", "104"], ["-00", "1"], ["1" * 15, "1" * 16]])
def test_integers_written_as_text_are_read_as_pandas_reads_them_to_the_sign_of_zero(cells):
    from webapp.core.validation import _parse_numbers

    values = np.array(cells, dtype=object)
    expected = np.asarray(pd.to_numeric(values, errors="coerce"), dtype=np.float64)
    parsed, unparsed = _parse_numbers(pd.Series(values, dtype=object))
    assert parsed.tobytes() == expected.tobytes() and not unparsed.any()


@pytest.mark.parametrize("spec", [{"kind": "number", "maximum": 1000.0}, {"kind": "number"}, {"kind": "flag"}],
                         ids=["number with a maximum", "number", "flag"])
def test_each_number_rule_says_the_same_of_a_column_and_of_its_values_one_by_one(spec):
    """A few rows are checked value by value (a single record's path), more as a column: each rule
    keeps both forms side by side, and they must agree on every kind of value."""
    from webapp.core.validation import number_rules

    values = np.array([np.nan, np.inf, -np.inf, -1.0, -0.0, 0.0, 0.5, 1.0, 2.0, 999.9, 1000.0, 1000.1, 1e300])
    for rule in number_rules(spec):
        with np.errstate(invalid="ignore"):
            assert rule.breaks(values, spec).tolist() == [rule.broken_by_any([v], spec) for v in values.tolist()]
            assert rule.breaks(values, spec).any() == rule.broken_by_any(values.tolist(), spec)
