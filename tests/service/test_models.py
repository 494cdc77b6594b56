"""What the model provider tells anyone who asks (`/healthz` is public): never where files live."""
from webapp.service.models import ModelProvider


def test_a_registry_fault_is_described_without_its_folders(loaded_model):
    provider = ModelProvider(loaded_model)
    provider.registry_error = ("The stored artifact of model version 7 at /srv/loans/store/3f2a/loan_pipeline.joblib "
                               "does not match its registered SHA-256")
    described = provider.describe()
    assert "/srv" not in str(described) and "loan_pipeline.joblib" in described["registry"]
