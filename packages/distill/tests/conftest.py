import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run far faster on one intra-op thread than on contended cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
