"""Scale-out: the day's tiles predicted on a local Dask cluster equal the local prediction."""

from __future__ import annotations

import numpy as np
import pytest

from smprod.errors import ConfigError
from smprod.inputs.dayfiles import InputStore
from smprod.ops.scaleout import dask_client
from smprod.science.features import PREDICTORS
from smprod.science.models import make_model
from smprod.science.predict import predict_region
from smprod.science.training import training_table

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


def test_tiles_on_a_dask_cluster_equal_the_local_prediction(small_world, cluster):
    store = InputStore(small_world.layout)
    table = training_table(small_world.days[8:14], small_world.region, store)
    model = make_model("rf", PREDICTORS).fit(table[list(PREDICTORS)], table["sm"].to_numpy())
    day = small_world.days[15]
    local = predict_region(model, day, small_world.region, store, size=1)
    with dask_client(cluster.scheduler_address) as client:
        assert client is not None
        remote = predict_region(model, day, small_world.region, store, size=1, client=client)
        ran_on = client.run(lambda dask_worker: dask_worker.state.executed_count)
    np.testing.assert_array_equal(remote.values, local.values)
    np.testing.assert_array_equal(remote.sigma, local.sigma)
    np.testing.assert_array_equal(remote.qa, local.qa)
    assert sum(ran_on.values()) >= 2  # the tiles ran on the workers, not here


def test_no_address_means_local_and_a_dead_scheduler_is_a_clear_config_error():
    with dask_client(None) as client:
        assert client is None
    with (
        pytest.raises(ConfigError, match=r"tcp://127.0.0.1:9.*dask_address"),
        dask_client("tcp://127.0.0.1:9", timeout=2),
    ):
        pass


def test_inside_a_dask_task_the_client_is_none_so_tiles_run_in_the_task(cluster):
    from distributed import Client

    def client_inside(address: str) -> bool:
        with dask_client(address) as client:
            return client is None

    with Client(cluster.scheduler_address, set_as_default=False) as client:
        assert client.submit(client_inside, cluster.scheduler_address).result(timeout=60)
