"""Single sign-on: roles from the provider's claim through the mapping setting.
(The flow against a live provider on 127.0.0.1 is still to come; see the accounts report.)"""
import pytest

from webapp.web import oidc


def test_the_role_mapping_setting_is_parsed_and_checked():
    assert oidc.parse_role_mapping("loan-admins=admin, loan-analysts=analyst") == {"loan-admins": "admin",
                                                                                   "loan-analysts": "analyst"}
    with pytest.raises(ValueError, match="owner"):
        oidc.parse_role_mapping("x=owner")


@pytest.mark.parametrize("claim, role", [
    (["loan-analysts"], "analyst"),
    (["loan-analysts", "loan-admins"], "admin"),  # the most powerful mapped role wins
    ("loan-auditors", "auditor"),
    (["other"], None),
    (None, None),
])
def test_the_role_comes_from_the_claim(claim, role):
    mapping = {"loan-admins": "admin", "loan-analysts": "analyst", "loan-auditors": "auditor"}
    assert oidc.role_from_claims({"groups": claim}, "groups", mapping) == role
