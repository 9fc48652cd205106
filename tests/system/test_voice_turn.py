"""coturn as configured for deployment relays WebRTC media (config/turnserver.conf)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from simulators.audio import write_tone
from simulators.local_services import LocalServer
from simulators.local_sip import TURN_PASSWORD, TURN_USER, coturn
from tests.system.test_voice_calls import chromium_speaking

pytestmark = pytest.mark.skipif(
    shutil.which("turnserver") is None, reason="coturn is not installed (scripts/test.sh does)"
)

# Two peers in one page that may only use relayed candidates: they reach each
# other only through the TURN server.
RELAYED_CALL = """async ({url, username, credential}) => {
  const config = {iceServers: [{urls: url, username, credential}], iceTransportPolicy: "relay"};
  const a = new RTCPeerConnection(config), b = new RTCPeerConnection(config);
  const types = [];
  a.onicecandidate = (e) => {
    if (e.candidate) {
      types.push(e.candidate.type);
      b.addIceCandidate(e.candidate);
    }
  };
  b.onicecandidate = (e) => e.candidate && a.addIceCandidate(e.candidate);
  a.createDataChannel("probe");
  await a.setLocalDescription(await a.createOffer());
  await b.setRemoteDescription(a.localDescription);
  await b.setLocalDescription(await b.createAnswer());
  await a.setRemoteDescription(b.localDescription);
  for (let i = 0; i < 50 && a.connectionState !== "connected"; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  const stats = [...(await a.getStats()).values()];
  const pair = stats.find(
    (s) => s.type === "candidate-pair" && s.nominated && s.state === "succeeded"
  );
  const local = pair && stats.find((s) => s.id === pair.localCandidateId);
  return {state: a.connectionState, types, local: local && local.candidateType};
}"""


@pytest.fixture
def turn(tmp_path: Path) -> Iterator[LocalServer]:
    server = coturn(tmp_path / "coturn").start()
    yield server
    server.stop()


async def test_browsers_reach_each_other_through_the_turn_relay(
    turn: LocalServer, tmp_path: Path
) -> None:
    async with chromium_speaking(write_tone(tmp_path / "tone.wav", 440, 1)) as browser:
        page = await browser.new_page()
        await page.goto("about:blank")
        result = await page.evaluate(
            RELAYED_CALL, {"url": turn.url, "username": TURN_USER, "credential": TURN_PASSWORD}
        )
    assert result["state"] == "connected"
    assert set(result["types"]) == {"relay"}
    assert result["local"] == "relay"


async def test_a_wrong_turn_password_relays_nothing(turn: LocalServer, tmp_path: Path) -> None:
    async with chromium_speaking(write_tone(tmp_path / "tone.wav", 440, 1)) as browser:
        page = await browser.new_page()
        await page.goto("about:blank")
        result = await page.evaluate(
            RELAYED_CALL, {"url": turn.url, "username": TURN_USER, "credential": "wrong"}
        )
    assert result["types"] == []
    assert result["state"] != "connected"
