"""Sound for the voice simulator: tones to play, and the frequency a recording holds.

A tone is what the tests listen for: a recording "contains the operator's voice"
when its strongest frequency is the tone the operator's microphone played.
"""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

RATE_HZ = 48_000


def write_tone(path: Path, frequency_hz: float, seconds: float, *, rate_hz: int = RATE_HZ) -> Path:
    """A mono 16-bit sine at half scale, as a WAV file."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    samples = (0.5 * 32767 * np.sin(2 * np.pi * frequency_hz * t)).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate_hz)
        out.writeframes(samples.tobytes())
    return path


def write_voice(path: Path, text: str, *, language: str = "zh") -> Path | None:
    """Speak ``text`` into a WAV with espeak-ng; None where espeak-ng is not installed."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    subprocess.run([espeak, "-v", language, "-w", str(path), text], check=True, timeout=30)
    return path


def read_mono(path: Path) -> tuple[np.ndarray, int]:
    """The first channel of a 16-bit WAV as floats in [-1, 1], and its sample rate."""
    with wave.open(str(path), "rb") as recording:
        if recording.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM")
        channels, rate = recording.getnchannels(), recording.getframerate()
        frames = recording.readframes(recording.getnframes())
    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels)[:, 0]
    return samples.astype(np.float64) / 32768.0, rate


def dominant_frequency_hz(samples: np.ndarray, rate_hz: int) -> float:
    """The strongest frequency in ``samples`` (Hann-windowed FFT; 0.0 for silence)."""
    if len(samples) == 0 or not np.any(samples):
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0.0  # a DC offset is not a tone
    return float(np.fft.rfftfreq(len(samples), 1 / rate_hz)[int(spectrum.argmax())])


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2))) if len(samples) else 0.0


def share_near(
    samples: np.ndarray, rate_hz: int, frequency_hz: float, width_hz: float = 15.0
) -> float:
    """The share of the signal's power within ``width_hz`` of ``frequency_hz`` (0 to 1):
    how much of a mixed recording one tone is."""
    power = np.abs(np.fft.rfft(samples * np.hanning(len(samples)))) ** 2
    power[0] = 0.0
    freqs = np.fft.rfftfreq(len(samples), 1 / rate_hz)
    total = float(power.sum())
    if total == 0.0:
        return 0.0
    return float(power[np.abs(freqs - frequency_hz) <= width_hz].sum()) / total
