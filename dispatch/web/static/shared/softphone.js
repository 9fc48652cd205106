// The softphone: WebRTC voice for the board (the host) and the caregiver's app (a guest).
//
// The operator's browser hosts every call: one RTCPeerConnection per other party
// (a "leg": an elder's device, a caregiver's app) and a WebAudio mixer, so each
// party hears the operator and every other party, and a three-way call needs no
// media server. Signalling goes over the page's live socket as voice.* messages
// (docs/voice.md); the server relays them to devices over MQTT.

import { h, fill } from "./dom.js";
import { fmt, t } from "./i18n.js";

const ICE_GATHER_MS = 4000; // then send what was gathered
const ENDED_SHOWN_MS = 6000;

export const partyKind = (party) => party.split(":")[0];

// Keep only 127.0.0.1 candidates: every party runs on this one machine (demo, tests).
function loopbackOnly(sdp) {
  return sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || line.includes(" 127.0.0.1 "))
    .join("\r\n");
}

// The description with every candidate in it: devices take no trickled candidates.
async function gathered(pc) {
  if (pc.iceGatheringState !== "complete") {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_GATHER_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }
  return pc.localDescription.sdp;
}

export class Softphone {
  // send(message): over the live socket; names: party -> a person's name, for the panel.
  // contacts(): [{party, name}] the host may call from the panel (caregivers on shift).
  // onDial(party, alertId): the host dials (the board opens the alert's card).
  constructor({ api, send, role, names = () => null, contacts = () => [], onChange = () => {}, onDial = () => {} }) {
    Object.assign(this, { api, send, role, names, contacts, onChange, onDial });
    this.config = { ice_servers: [], loopback_only: false, record_calls: false };
    this.call = null; // {id, alertId, legs: Map(party -> leg), answeredAt, state, muted}
    this.waiting = []; // parties asking to talk (host only)
    this.incoming = null; // an offer to this guest, not yet answered
    this.requested = false; // this guest asked the centre to call
    this.heard = new Map(); // party -> the name the server gave it (waiting callers)
    this.ended = null; // {reason, at}: shown a few seconds after a call
    this.audio = null;
    this.mic = null;
    this.el = null;
  }

  async init() {
    this.config = await this.api.get("/api/v1/voice/config");
  }

  // ---- media -------------------------------------------------------------------

  async ensureAudio() {
    if (!this.audio) this.audio = new AudioContext();
    if (this.audio.state === "suspended") await this.audio.resume();
    if (!this.mic) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      const source = this.audio.createMediaStreamSource(stream);
      this.micGain = this.audio.createGain();
      source.connect(this.micGain);
      this.micLevel = this.audio.createAnalyser();
      this.micGain.connect(this.micLevel);
      this.mic = stream;
    }
  }

  peer() {
    return new RTCPeerConnection({ iceServers: this.config.ice_servers });
  }

  // Outgoing audio for one leg: the microphone plus every other leg's voice.
  newLeg(party) {
    const out = this.audio.createMediaStreamDestination();
    const gain = this.audio.createGain(); // 0 while this leg is held
    gain.connect(out);
    this.micGain.connect(gain);
    const pc = this.peer();
    pc.addTrack(out.stream.getAudioTracks()[0], out.stream);
    const leg = { party, pc, gain, out, state: "ringing", answeredAt: null, audioEl: null, source: null };
    pc.addEventListener("track", (event) => this.hear(leg, event.streams[0] || new MediaStream([event.track])));
    pc.addEventListener("connectionstatechange", () => this.linkChanged(leg));
    return leg;
  }

  hear(leg, stream) {
    // Chromium feeds a remote stream to WebAudio only while a media element plays it.
    const el = h("audio", { class: "voice-remote", "data-party": leg.party, autoplay: true });
    el.srcObject = stream;
    el.play().catch(() => {});
    document.body.append(el);
    leg.audioEl = el;
    leg.source = this.audio.createMediaStreamSource(stream);
    leg.level = this.audio.createAnalyser();
    leg.source.connect(leg.level);
    if (this.call) {
      for (const other of this.call.legs.values()) {
        if (other !== leg) {
          leg.source.connect(other.gain);
          other.source?.connect(leg.gain);
        }
      }
    }
    this.render();
  }

  linkChanged(leg) {
    const state = leg.pc.connectionState;
    if (state === "connected" && this.role === "host") {
      this.send({ type: "voice.connected", call_id: this.call.id, party: leg.party });
    }
    if (state === "failed" && this.role === "host" && this.call) {
      this.send({ type: "voice.failed", call_id: this.call.id, party: leg.party });
    }
  }

  dropLeg(leg) {
    leg.pc.close();
    leg.audioEl?.remove();
    leg.source?.disconnect();
    leg.gain.disconnect();
  }

  async localSdp(pc) {
    const sdp = await gathered(pc);
    return this.config.loopback_only ? loopbackOnly(sdp) : sdp;
  }

  remoteSdp(sdp) {
    return this.config.loopback_only ? loopbackOnly(sdp) : sdp;
  }

  // ---- the host: dialling, answering what waits, hold, mute, hang up ------------

  // Call ``party`` ("device:pb-1", "caregiver:<id>"); joins the current call if any.
  async dial(party, { alertId = null } = {}) {
    await this.ensureAudio();
    if (!this.call) {
      this.call = {
        id: crypto.randomUUID(),
        alertId,
        legs: new Map(),
        answeredAt: null,
        state: "ringing",
        muted: false,
      };
      this.ended = null;
      this.startRecording();
    }
    if (this.call.legs.has(party)) return;
    this.onDial(party, this.call.alertId);
    const leg = this.newLeg(party);
    this.call.legs.set(party, leg);
    this.render();
    await leg.pc.setLocalDescription(await leg.pc.createOffer());
    const sdp = await this.localSdp(leg.pc);
    this.send({ type: "voice.dial", call_id: this.call.id, to: party, sdp, alert_id: this.call.alertId });
  }

  answerWaiting(waiting) {
    return this.dial(waiting.party, { alertId: waiting.alert_id });
  }

  hangup(party = null) {
    if (!this.call) return;
    this.send({ type: "voice.hangup", call_id: this.call.id, ...(party ? { party } : {}) });
  }

  mute(on) {
    if (!this.call) return;
    this.call.muted = on;
    this.micGain.gain.value = on ? 0 : 1;
    this.render();
  }

  hold(on) {
    if (!this.call) return;
    for (const leg of this.call.legs.values()) {
      if (leg.state === "ended") continue;
      leg.gain.gain.value = on ? 0 : 1;
      if (leg.audioEl) leg.audioEl.muted = on;
      this.send({ type: "voice.hold", call_id: this.call.id, party: leg.party, on });
    }
  }

  // ---- a guest (the caregiver's app) -------------------------------------------

  requestCall() {
    this.requested = true;
    this.send({ type: "voice.request" });
    this.render();
  }

  cancelRequest() {
    this.requested = false;
    this.send({ type: "voice.cancel_request" });
    this.render();
  }

  async acceptIncoming() {
    const offer = this.incoming;
    if (!offer) return;
    this.incoming = null;
    await this.ensureAudio();
    const host = offer.from;
    this.call = { id: offer.call_id, alertId: offer.alert_id, legs: new Map(), answeredAt: null, state: "ringing", muted: false };
    const leg = this.newLeg(host);
    this.call.legs.set(host, leg);
    await leg.pc.setRemoteDescription({ type: "offer", sdp: this.remoteSdp(offer.sdp) });
    await leg.pc.setLocalDescription(await leg.pc.createAnswer());
    const sdp = await this.localSdp(leg.pc);
    this.send({ type: "voice.answer", call_id: offer.call_id, sdp });
    this.render();
  }

  declineIncoming() {
    if (!this.incoming) return;
    this.send({ type: "voice.decline", call_id: this.incoming.call_id });
    this.incoming = null;
    this.render();
  }

  // ---- messages from the server ------------------------------------------------

  // Returns true when ``message`` was a voice message (handled here).
  receive(message) {
    const type = message.type || "";
    if (!type.startsWith("voice.")) return false;
    const handle = {
      "voice.waiting": () => {
        this.waiting = message.waiting;
        for (const w of this.waiting) this.heard.set(w.party, w.name);
      },
      "voice.offer": () => {
        this.incoming = message;
        if (this.requested) {
          this.requested = false;
          this.acceptIncoming();
        }
      },
      "voice.answer": () => this.answered(message),
      "voice.call": () => this.callChanged(message),
      "voice.hold": () => {
        for (const leg of this.call?.legs.values() || []) leg.gain.gain.value = message.on ? 0 : 1;
        if (this.call) this.call.state = message.on ? "held" : "connected";
      },
      "voice.hangup": () => this.legEnded(message.party, message.reason, message.call_id),
      "voice.error": () => {
        this.lastError = message.message;
      },
    }[type];
    handle?.();
    this.render();
    this.onChange(message);
    return true;
  }

  async answered(message) {
    const leg = this.call?.id === message.call_id && this.call.legs.get(message.party);
    if (!leg) return;
    await leg.pc.setRemoteDescription({ type: "answer", sdp: this.remoteSdp(message.sdp) });
  }

  callChanged(view) {
    if (!this.call || this.call.id !== view.call_id) return;
    this.call.state = view.state;
    this.call.answeredAt = view.answered_at;
    if (this.role === "guest") {
      // A guest's one leg is to the host: it is in the state of the call.
      for (const leg of this.call.legs.values()) leg.state = view.state;
      if (view.state === "ended") this.finish("hung_up");
      return;
    }
    for (const legView of view.legs) {
      const leg = this.call.legs.get(legView.party);
      if (leg) Object.assign(leg, { state: legView.state, answeredAt: legView.answered_at });
      if (legView.state === "ended") this.legEnded(legView.party, legView.end_reason, view.call_id);
    }
    if (view.state === "ended") this.finish(view.legs.at(-1)?.end_reason || "hung_up");
  }

  legEnded(party, reason, callId) {
    if (this.incoming?.call_id === callId) this.incoming = null;
    if (!this.call || this.call.id !== callId) {
      if (party) this.ended = { reason, at: Date.now(), party };
      return;
    }
    // A guest's one leg is the host's: the host hanging up ends the guest's call.
    const key = this.role === "host" ? party : [...this.call.legs.keys()][0];
    const leg = this.call.legs.get(key);
    if (leg) {
      leg.state = "ended";
      this.dropLeg(leg);
      this.call.legs.delete(key);
    }
    if (this.call.legs.size === 0) this.finish(reason);
  }

  finish(reason) {
    if (!this.call) return;
    for (const leg of this.call.legs.values()) this.dropLeg(leg);
    this.stopRecording(this.call.id);
    this.ended = { reason, at: Date.now(), talk: this.call.answeredAt };
    this.call = null;
    setTimeout(() => this.render(), ENDED_SHOWN_MS + 100);
  }

  // ---- recording (a bureau setting) -----------------------------------------------

  startRecording() {
    if (!this.config.record_calls || this.role !== "host" || typeof MediaRecorder === "undefined") return;
    const mix = this.audio.createMediaStreamDestination();
    this.micGain.connect(mix);
    this.recordMix = mix;
    this.recorder = new MediaRecorder(mix.stream, { mimeType: "audio/webm" });
    this.chunks = [];
    this.recorder.ondataavailable = (e) => e.data.size && this.chunks.push(e.data);
    this.recorder.start(1000);
  }

  stopRecording(callId) {
    const recorder = this.recorder;
    if (!recorder) return;
    this.recorder = null;
    recorder.onstop = async () => {
      const body = new Blob(this.chunks, { type: "audio/webm" });
      await fetch(`/api/v1/calls/${callId}/recording`, {
        method: "POST",
        headers: { "Content-Type": "audio/webm" },
        body,
      });
    };
    recorder.stop();
  }

  // Every remote voice reaches the recording as it joins.
  recordLeg(leg) {
    if (this.recordMix && leg.source) leg.source.connect(this.recordMix);
  }

  // ---- what the panel shows --------------------------------------------------------

  level() {
    const analysers = [this.micLevel, ...[...(this.call?.legs.values() || [])].map((l) => l.level)];
    let peak = 0;
    for (const analyser of analysers.filter(Boolean)) {
      const data = new Float32Array(analyser.fftSize);
      analyser.getFloatTimeDomainData(data);
      for (const x of data) peak = Math.max(peak, Math.abs(x));
    }
    return peak;
  }

  mount(el) {
    this.el = el;
    this.render();
    setInterval(() => this.tick(), 200);
  }

  tick() {
    if (!this.el) return;
    const timer = this.el.querySelector(".voice-timer");
    if (timer && this.call?.answeredAt) {
      timer.textContent = fmt.clock((Date.now() - new Date(this.call.answeredAt)) / 1000);
    }
    for (const waited of this.el.querySelectorAll(".voice-waited")) {
      waited.textContent = fmt.clock((Date.now() - new Date(waited.dataset.since)) / 1000);
    }
    const meter = this.el.querySelector(".voice-level i");
    if (meter) meter.style.width = `${Math.min(100, Math.round(this.level() * 140))}%`;
    if (this.ended && Date.now() - this.ended.at > ENDED_SHOWN_MS && !this.call) {
      this.ended = null;
      this.render();
    }
  }

  label(party) {
    if (partyKind(party) === "operator") return t("voice.centre", { name: party.slice(9) });
    return this.names(party) || this.heard.get(party) || party.split(":").slice(1).join(":").slice(0, 12);
  }

  render() {
    if (!this.el) return;
    for (const leg of this.call?.legs.values() || []) this.recordLeg(leg);
    const state = this.call ? this.call.state : this.incoming ? "incoming" : this.ended ? "ended" : "idle";
    this.el.dataset.state = state;
    const rows = [];
    if (this.call) {
      const muted = this.call.muted;
      const held = this.call.state === "held";
      rows.push(
        h(
          "div",
          { class: "voice-head" },
          h("b", { class: "voice-state" }, t(`voice.state.${this.call.state}`)),
          h("span", { class: "voice-timer" }, this.call.answeredAt ? "" : "–"),
          h("span", { class: "voice-level", title: t("voice.level") }, h("i")),
        ),
        h(
          "ul",
          { class: "voice-legs" },
          [...this.call.legs.values()].map((leg) =>
            h(
              "li",
              { "data-party": leg.party, "data-state": leg.state },
              h("span", {}, this.label(leg.party)),
              h("span", { class: "badge" }, t(`voice.state.${leg.state}`)),
            ),
          ),
        ),
        h(
          "div",
          { class: "voice-buttons" },
          h(
            "button",
            { "data-voice": "mute", "aria-pressed": String(muted), onclick: () => this.mute(!muted) },
            t(muted ? "voice.unmute" : "voice.mute"),
          ),
          this.role === "host" &&
            h(
              "button",
              { "data-voice": "hold", "aria-pressed": String(held), onclick: () => this.hold(!held) },
              t(held ? "voice.resume" : "voice.hold"),
            ),
          h(
            "button",
            { class: "danger", "data-voice": "hangup", onclick: () => (this.role === "host" ? this.hangup() : this.hangupGuest()) },
            t("voice.hangup"),
          ),
        ),
      );
    } else if (this.incoming) {
      rows.push(
        h("div", { class: "voice-head" }, h("b", { class: "voice-state" }, t("voice.incoming_from_centre"))),
        h(
          "div",
          { class: "voice-buttons" },
          h("button", { class: "primary", "data-voice": "accept", onclick: () => this.acceptIncoming() }, t("voice.answer")),
          h("button", { "data-voice": "decline", onclick: () => this.declineIncoming() }, t("voice.decline")),
        ),
      );
    } else if (this.ended) {
      rows.push(h("p", { class: "voice-ended" }, t(`voice.ended.${this.ended.reason || "hung_up"}`)));
    }
    if (this.role === "host" && this.waiting.length) {
      rows.push(
        h("h3", {}, t("voice.waiting")),
        h(
          "ul",
          { class: "voice-waiting" },
          this.waiting.map((w) =>
            h(
              "li",
              { "data-party": w.party },
              h("span", {}, `${w.name} · ${w.alert_type ? t(`alertType.${w.alert_type}`) : t(`voice.kind.${partyKind(w.party)}`)}`),
              h("span", { class: "voice-waited", "data-since": w.since }),
              h("button", { class: "primary", "data-voice": "answer", onclick: () => this.answerWaiting(w) }, t("voice.answer")),
            ),
          ),
        ),
      );
    }
    if (this.role === "guest" && !this.call && !this.incoming) {
      rows.push(
        this.requested
          ? h("button", { "data-voice": "cancel-request", onclick: () => this.cancelRequest() }, t("voice.cancel_request"))
          : h("button", { class: "primary", "data-voice": "request", onclick: () => this.requestCall() }, t("voice.call_centre")),
      );
    }
    if (this.role === "host") {
      if (!rows.length) rows.push(h("p", { class: "voice-idle" }, t("voice.idle")));
      rows.push(this.dialler());
    }
    fill(this.el, ...rows);
    this.tick();
  }

  // Call a caregiver from the panel: pick, then one tap.
  dialler() {
    const people = this.contacts().filter((p) => !this.call?.legs.has(p.party));
    if (!people.length) return null;
    const pick = h(
      "select",
      { "data-voice": "contact", "aria-label": t("voice.pick_caregiver") },
      people.map((p) => h("option", { value: p.party }, p.name)),
    );
    return h(
      "div",
      { class: "voice-dialler" },
      pick,
      h(
        "button",
        { "data-voice": "dial", onclick: () => this.dial(pick.value) },
        t(this.call ? "voice.add_to_call" : "voice.call"),
      ),
    );
  }

  hangupGuest() {
    if (!this.call) return;
    this.send({ type: "voice.hangup", call_id: this.call.id });
    this.finish("hung_up");
  }
}

// The "talk" button on an alert: calls its device, or says plainly why it cannot.
export function talkButton(phone, alert, voice) {
  if (!alert.device_id) return null; // raised by a person or a phone call: nothing to call
  const party = `device:${alert.device_id}`;
  if (!voice?.talks) {
    return h("p", { class: "voice-cannot", "data-voice": "cannot-talk" }, t("voice.cannot_talk"));
  }
  const onCall = phone.call?.legs.has(party);
  return h(
    "button",
    {
      class: "primary",
      "data-voice": "talk",
      disabled: onCall,
      onclick: () => phone.dial(party, { alertId: alert.id }),
    },
    t(onCall ? "voice.on_call" : "voice.talk"),
  );
}
