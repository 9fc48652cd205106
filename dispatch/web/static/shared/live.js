// One live stream over a WebSocket: resumes from the last sequence number it saw,
// drops repeats by audit id, and reconnects with back-off (docs/protocol.md).

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;

export class Live {
  constructor(path, { token, storageKey, onMessage, onStatus, onResync, onOpen, onDenied }) {
    Object.assign(this, { path, token, storageKey, onMessage, onStatus, onResync, onOpen });
    this.onDenied = onDenied || (() => {});
    this.seen = new Set(); // audit ids already shown
    this.backoffMs = 500;
    this.socket = null;
    this.stopped = false;
    this.retry = null;
    // The phone says when it loses the network: drop the socket at once rather than
    // wait for a dead one to time out, and come back as soon as it is online.
    addEventListener("offline", () => this.socket?.close());
    addEventListener("online", () => {
      if (!this.socket && !this.stopped) this.reconnectNow();
    });
  }

  reconnectNow() {
    clearTimeout(this.retry);
    this.backoffMs = 500;
    this.connect();
  }

  get lastSeq() {
    return localStorage.getItem(this.storageKey);
  }

  connect() {
    this.stopped = false;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const query = new URLSearchParams();
    if (this.lastSeq) query.set("last_seq", this.lastSeq);
    // The pages' session is their HttpOnly cookie, which the handshake carries; a
    // caller holding a bearer token offers it in Sec-WebSocket-Protocol, never in
    // the URL (proxy logs keep URLs).
    const protocols = this.token ? ["carebell.v1", `bearer.${this.token}`] : ["carebell.v1"];
    const socket = new WebSocket(`${scheme}://${location.host}${this.path}?${query}`, protocols);
    this.socket = socket;
    this.onStatus("reconnecting");
    socket.onopen = () => {
      this.backoffMs = 500;
      this.onStatus("connected");
      this.onOpen?.();
    };
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (event.code === CLOSE_UNAUTHORIZED || event.code === CLOSE_FORBIDDEN) {
        this.onDenied(event.code);
        return;
      }
      this.onStatus("offline");
      if (!this.stopped && navigator.onLine) {
        this.retry = setTimeout(() => this.connect(), this.backoffMs);
        this.backoffMs = Math.min(this.backoffMs * 2, 5000);
      }
    };
  }

  receive(message) {
    if (message.seq) localStorage.setItem(this.storageKey, message.seq);
    if (message.type === "resync") {
      this.onResync?.();
      return;
    }
    if (message.audit_id != null) {
      if (this.seen.has(message.audit_id)) return;
      this.seen.add(message.audit_id);
      if (this.seen.size > 5000) this.seen = new Set([...this.seen].slice(-2500));
    }
    this.onMessage(message);
  }

  get open() {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  send(message) {
    if (!this.open) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  close() {
    this.stopped = true;
    this.socket?.close();
  }
}

// A short two-tone alarm from WebAudio: no sound file to ship or load.
let audio;
export function beep(times = 2) {
  try {
    audio = audio || new AudioContext();
    for (let i = 0; i < times; i++) {
      const start = audio.currentTime + i * 0.35;
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = i % 2 ? 660 : 880;
      gain.gain.setValueAtTime(0.25, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
      tone.connect(gain).connect(audio.destination);
      tone.start(start);
      tone.stop(start + 0.3);
    }
  } catch {
    /* no audio device: the flash still shows */
  }
}

// Shows a Live connection's state in ``el``, in the user's language.
export function statusShownIn(el, t) {
  return (state) => {
    el.dataset.state = state;
    el.dataset.i18n = `live.${state}`; // re-read when the language changes
    el.textContent = t(`live.${state}`);
  };
}
