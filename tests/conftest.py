import numpy as np
import pytest

# Test modules that start SUMO (or its tools); `pytest -m "not sumo"` runs the others in seconds.
SUMO_MODULES = {"test_bad_input", "test_bench", "test_env_api", "test_graph", "test_metrics", "test_padding_masks",
                "test_safety", "test_scenarios_vector", "test_train", "test_user_scenarios", "test_watch"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.module.__name__ in SUMO_MODULES:
            item.add_marker(pytest.mark.sumo)


@pytest.fixture(autouse=True, scope="session")
def fmat_home(tmp_path_factory):
    """Generated grids and registered scenarios go to a throwaway FMAT_HOME, not the user's."""
    mp = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("fmat_home")
    mp.setenv("FMAT_HOME", str(home))
    yield home
    mp.undo()


def random_masked_actions(rng: np.random.Generator, action_mask: np.ndarray) -> np.ndarray:
    """One valid action per row of a [..., n_actions] mask."""
    flat = action_mask.reshape(-1, action_mask.shape[-1]).astype(bool)
    return np.array([rng.choice(np.flatnonzero(row)) for row in flat]).reshape(action_mask.shape[:-1])


def run_episode(env, rng_seed: int = 0, env_seed: int | None = None) -> dict:
    """Play one episode with seeded random valid actions; return the episode metrics."""
    rng = np.random.default_rng(rng_seed)
    obs, _ = env.reset_arrays(env_seed)
    while True:
        obs, _, done, info = env.step_arrays(random_masked_actions(rng, obs["action_mask"]))
        if done:
            return info["episode"]
