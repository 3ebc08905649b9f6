"""Out-of-round contributions from three hospitals' nodes, over real HTTP to a real server
process, become a checkpoint on the training line once the buffer is full."""

from __future__ import annotations

import time
from pathlib import Path

from medfed.node import enroll as node_enroll
from medfed.node.client import ServerClient
from medfed.node.contribute import contribute
from medfed.node.training import TrainRequest, run_training
from tests.node.conftest import LiveNetwork, site_csv

# The third hospital exports the Hungarian site's rows too: the other public heart sites are
# below the network's default minimum of 200 training rows.
HOSPITALS = (("Cleveland", "cleveland"), ("Budapest", "hungarian"), ("Pécs", "hungarian"))


def test_three_buffered_contributions_make_a_checkpoint(
    live_network: LiveNetwork, datasets_dir: Path, tmp_path: Path
) -> None:
    live_network.enable_buffer(size=3)
    url = live_network.server.url
    answers = []
    for name, site in HOSPITALS:
        token = live_network.new_enrollment_token(f"{name} Hospital")
        home = tmp_path / f"node-{name.lower()}"
        credential = node_enroll.enroll(home, url, token, node_name=name)
        csv_path = site_csv(datasets_dir, site, tmp_path / f"{name.lower()}.csv")
        with ServerClient(url, credential.credential) as client:
            result = run_training(
                home, client, TrainRequest("heart", csv_path, epochs=2, target_epsilon=1.0, seed=3)
            )
            assert result.base_version == "v1.0"
            answers.append(contribute(home, client))
    assert [a["status"] for a in answers] == ["pending"] * 3
    assert "2 of the 3" in answers[1]["message"]
    with ServerClient(url, credential.credential) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            _, head = client.download_model("heart", line="training")
            if head == "v1.1":
                break
            time.sleep(0.2)
        assert head == "v1.1", "the server aggregated the buffer into a new checkpoint"
        _, served = client.download_model("heart")
        assert served in ("v1.0", "v1.1")  # promoted only if the evidence said so
