// The board's phone line: the operator's extension on the centre's phone system,
// SIP over WebSocket (RFC 7118) with SIP.js. A call from a number on an elder's
// record pops the elder's card (and raises or joins their alert); the elder's
// number on the card dials out. Each call is reported to the server for the record.

import { h, fill } from "./dom.js";
import { fmt, t } from "./i18n.js";

function loopbackOnly(description) {
  const sdp = description.sdp
    .split("\r\n")
    .filter((line) => !line.startsWith("a=candidate:") || line.includes(" 127.0.0.1 "))
    .join("\r\n");
  return Promise.resolve({ type: description.type, sdp });
}

export class PhoneLine {
  // config: {ws_url, domain} from /api/v1/voice/config; onPop(caller) shows the card.
  constructor({ api, send, config, loopback, user, onPop = () => {} }) {
    Object.assign(this, { api, send, config, loopback, user, onPop });
    this.state = "off"; // off | registered | ringing | calling | connected | ended
    this.session = null;
    this.call = null; // {id, number, direction, alertId, answeredAt, caller}
    this.muted = false;
    this.el = null;
  }

  get modifiers() {
    return this.loopback ? [loopbackOnly] : [];
  }

  async start() {
    const SIP = await import("../vendor/sip.js/lib/index.js");
    this.SIP = SIP;
    this.ua = new SIP.UserAgent({
      uri: SIP.UserAgent.makeURI(`sip:${this.user}@${this.config.domain}`),
      transportOptions: { server: this.config.ws_url },
      logLevel: "warn",
      sessionDescriptionHandlerFactoryOptions: {
        iceGatheringTimeout: 2000,
        peerConnectionConfiguration: { iceServers: [] },
      },
      delegate: { onInvite: (invitation) => this.incoming(invitation) },
    });
    await this.ua.start();
    this.registerer = new SIP.Registerer(this.ua);
    this.registerer.stateChange.addListener((s) => {
      if (s === SIP.RegistererState.Registered && this.state === "off") this.show("registered");
      if (s !== SIP.RegistererState.Registered && !this.call) this.show("off");
    });
    await this.registerer.register();
  }

  // ---- calls in and out ----------------------------------------------------------

  async incoming(invitation) {
    if (this.session) {
      invitation.reject({ statusCode: 486 }); // busy: one phone call at a time
      return;
    }
    const number = invitation.remoteIdentity.uri.user;
    this.session = invitation;
    this.call = { id: crypto.randomUUID(), number, direction: "incoming", alertId: null, caller: null };
    this.watch(invitation);
    this.show("ringing");
    // Who is it? A known number pops the elder's card.
    const caller = await this.api.post("/api/v1/phone/incoming", { number });
    if (this.call?.number !== number) return;
    this.call.caller = caller;
    this.call.alertId = caller.alert_id || null;
    this.report("started");
    if (caller.known) this.onPop(caller);
    this.render();
  }

  async answer() {
    if (!this.session || this.call?.direction !== "incoming") return;
    await this.session.accept({
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
      sessionDescriptionHandlerModifiers: this.modifiers,
    });
  }

  async dial(number, { alertId = null } = {}) {
    if (this.session || this.state === "off") return;
    const target = this.SIP.UserAgent.makeURI(`sip:${number.replace(/[^\d+]/g, "")}@${this.config.domain}`);
    const inviter = new this.SIP.Inviter(this.ua, target, {
      sessionDescriptionHandlerOptions: { constraints: { audio: true, video: false } },
      sessionDescriptionHandlerModifiers: this.modifiers,
    });
    this.session = inviter;
    this.call = { id: crypto.randomUUID(), number: target.user, direction: "outgoing", alertId, caller: null };
    this.watch(inviter);
    this.report("started");
    this.show("calling");
    await inviter.invite();
  }

  hangup() {
    const s = this.session;
    if (!s) return;
    const { SessionState } = this.SIP;
    if (s.state === SessionState.Established) s.bye();
    else if (this.call?.direction === "incoming") s.reject();
    else s.cancel();
  }

  mute(on) {
    this.muted = on;
    const pc = this.session?.sessionDescriptionHandler?.peerConnection;
    for (const sender of pc?.getSenders() || []) if (sender.track) sender.track.enabled = !on;
    this.render();
  }

  watch(session) {
    const { SessionState } = this.SIP;
    session.stateChange.addListener((state) => {
      if (state === SessionState.Established) {
        this.call.answeredAt = new Date().toISOString();
        this.hear(session);
        this.report("answered");
        this.show("connected");
      }
      if (state === SessionState.Terminated) this.ended();
    });
  }

  hear(session) {
    const pc = session.sessionDescriptionHandler.peerConnection;
    const stream = new MediaStream();
    for (const receiver of pc.getReceivers()) if (receiver.track) stream.addTrack(receiver.track);
    const el = h("audio", { class: "voice-remote", "data-party": `phone:${this.call.number}`, autoplay: true });
    el.srcObject = stream;
    el.play().catch(() => {});
    document.body.append(el);
    this.audioEl = el;
  }

  ended() {
    const call = this.call;
    this.audioEl?.remove();
    this.audioEl = null;
    this.session = null;
    this.muted = false;
    if (call) {
      const reason = call.answeredAt ? "hung_up" : call.direction === "incoming" ? "declined" : "unavailable";
      this.report("ended", { reason });
    }
    this.call = null;
    this.show("ended");
    setTimeout(() => !this.call && this.show(this.registerer ? "registered" : "off"), 5000);
  }

  report(what, extra = {}) {
    if (!this.call) return;
    this.send({
      type: `voice.phone_${what}`,
      call_id: this.call.id,
      number: this.call.number,
      direction: this.call.direction,
      alert_id: this.call.alertId,
      ...extra,
    });
  }

  // ---- the panel ----------------------------------------------------------------

  show(state) {
    this.state = state;
    this.render();
  }

  mount(el) {
    this.el = el;
    this.render();
    setInterval(() => {
      const timer = this.el.querySelector(".phone-timer");
      if (timer && this.call?.answeredAt) {
        timer.textContent = fmt.clock((Date.now() - new Date(this.call.answeredAt)) / 1000);
      }
    }, 500);
  }

  render() {
    if (!this.el) return;
    this.el.dataset.state = this.state;
    const call = this.call;
    const who = call?.caller?.known ? `${call.caller.elder_name} · ${call.number}` : call?.number;
    fill(
      this.el,
      h("b", { class: "phone-state" }, t(`phone.state.${this.state}`)),
      call && h("span", { class: "phone-who" }, who),
      call?.answeredAt && h("span", { class: "phone-timer" }),
      this.state === "ringing" &&
        h("button", { class: "primary", "data-phone": "answer", onclick: () => this.answer() }, t("voice.answer")),
      ["connected"].includes(this.state) &&
        h(
          "button",
          { "data-phone": "mute", "aria-pressed": String(this.muted), onclick: () => this.mute(!this.muted) },
          t(this.muted ? "voice.unmute" : "voice.mute"),
        ),
      ["ringing", "calling", "connected"].includes(this.state) &&
        h("button", { class: "danger", "data-phone": "hangup", onclick: () => this.hangup() }, t("voice.hangup")),
    );
  }
}
