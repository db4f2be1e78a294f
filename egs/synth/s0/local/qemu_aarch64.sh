#!/usr/bin/env bash
# Correctness (not speed) of the torch-free runtime asr_kd.edge on aarch64, the ARM boards' ISA, under
# qemu-user: a Debian arm64 CPython 3.11 in a sysroot (dpkg -x, nothing arm64 is installed into /) with
# PyPI's aarch64 wheels of the runtime's dependencies, at the versions of the dev venv. The same Python
# runs on x86 (dev venv) and on aarch64 over the first --utts test utterances: fbank (.npy) and CTC logits
# of both exports, greedy, beam and beam + LM (--lm; flashlight-text) text of `EdgeRecognizer.transcribe`,
# the streamed text of `EdgeStream` fed 320 ms at a time, and `asr-kd-edge transcribe` on one file. Reports
# max |diff| of fbank and logits and the number of utterances whose text differs. Writes $out/qemu_aarch64.md.
# The fbank differs by up to ~2e-3 in near-empty low mel bins: numpy's float32 cos/pow give a povey window
# that is 1 ulp off in some values on aarch64 (the window row); with x86's window the fbank is within 2e-6.
# Needs root and the Debian and PyPI mirrors for the first run (apt-get, pip download); later runs reuse $out.
# Run from egs/synth/s0 after local/edge_bench.sh:  local/qemu_aarch64.sh [--utts 20] [--qemu-cpu max]
set -euo pipefail
. ./path.sh

data=data/test
model=exp/edge_bench/student_kd_stream.onnx   # streaming export (EdgeStream and offline transcribe)
offline_model=exp/edge_bench/student_kd.onnx  # offline export (offline transcribe)
utts=20
chunk_ms=320
qemu_cpu=cortex-a72  # CPU that qemu emulates (cortex-a72: Raspberry Pi 4; cortex-a76: Pi 5; max: all features)
lm=data/lang/lm.arpa  # ARPA LM for the beam + LM row (flashlight-text's native decoder); empty: no such row
out=exp/qemu_aarch64

. utils/parse_options.sh

root=$(cd ../../.. && pwd)
mkdir -p $out
out=$(cd $out && pwd)
sysroot=$out/arm64root
site=$out/arm64site
# Debian arm64 packages that python3.11 and the wheels' native code (libstdc++ for onnxruntime) load
debs="python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libexpat1 zlib1g libffi8 libssl3
  libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8 libstdc++6 libgcc-s1 libgomp1
  libcrypt1 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libcom-err2
  libkrb5support0 libkeyutils1"
pkgs="numpy onnxruntime soundfile soxr pyyaml threadpoolctl flashlight-text cffi pycparser"

setup_qemu() {
  command -v qemu-aarch64 >/dev/null && return
  apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null
}

setup_sysroot() {  # the arm64 debs unpacked into $sysroot; apt only downloads them
  [ -x $sysroot/usr/bin/python3.11 ] && return
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -qq
  mkdir -p $out/debs $sysroot
  (cd $out/debs && apt-get download -q $(for d in $debs; do echo $d:arm64; done))
  for f in $out/debs/*.deb; do dpkg -x $f $sysroot; done
}

fake_cpuinfo() {
  # qemu 7.2 passes the host's x86 /proc/cpuinfo through; onnxruntime's cpuinfo finds no ARM core in it and
  # segfaults on import. qemu -L looks up absolute paths in the sysroot first: an ARM cpuinfo there (one
  # Cortex-A72 entry per host CPU, as sysfs lists them) is what the process reads.
  mkdir -p $sysroot/proc
  for i in $(seq 0 $(( $(nproc --all) - 1 ))); do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n' $i
    printf 'CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n'
  done > $sysroot/proc/cpuinfo
}

setup_site() {  # aarch64 wheels at the dev venv's versions, so that only the ISA differs from x86
  [ -f $site/.done ] && return
  local pins
  pins=$(python -c "import importlib.metadata as m, sys
print(' '.join(f'{p}=={m.version(p)}' for p in sys.argv[1:]))" $pkgs)
  python -m pip download -q --only-binary=:all: --python-version 3.11 --implementation cp \
    --platform manylinux2014_aarch64 --platform manylinux_2_17_aarch64 --platform manylinux_2_27_aarch64 \
    --platform manylinux_2_28_aarch64 -d $out/wheels $pins
  rm -rf $site && mkdir -p $site
  for w in $out/wheels/*.whl; do python -m zipfile -e $w $site; done
  touch $site/.done
}

py_arm() {  # the emulated CPython; arm64 libs from the sysroot, the runtime from the working tree
  PYTHONPATH=$site:$root PYTHONNOUSERSITE=1 qemu-aarch64 -cpu $qemu_cpu -L $sysroot $sysroot/usr/bin/python3.11 "$@"
}

py_x86() { PYTHONPATH=$root python "$@"; }

# One side's outputs under $1: fbank/<utt>.npy, logits/<export>/<utt>.npy, texts.json (+ its environment)
run_edge() {  # $1: py_x86 or py_arm, $2: output folder, $3: wav.scp
  $1 - $2 $3 $model $offline_model $chunk_ms "$lm" <<'EOF'
import json, platform, sys
from importlib.metadata import version
from pathlib import Path
import numpy as np
from asr_kd.data.audio import load_audio
from asr_kd.edge.recognizer import EdgeRecognizer

out, wavs, stream_model, offline_model, chunk_ms, lm = sys.argv[1:7]
wavs = [line.split(maxsplit=1) for line in Path(wavs).read_text().splitlines()]
texts = {}
for path in (stream_model, offline_model):
    name = Path(path).stem
    greedy, beam = EdgeRecognizer(path, num_threads=1), EdgeRecognizer(path, decoder="beam", num_threads=1)
    (Path(out) / "logits" / name).mkdir(parents=True, exist_ok=True)
    for utt, wav in wavs:
        np.save(Path(out) / "logits" / name / f"{utt}.npy", greedy.wave_logits(load_audio(wav)))
        texts.setdefault(f"{name} greedy", {})[utt] = greedy.transcribe(wav).text
        texts.setdefault(f"{name} beam", {})[utt] = beam.transcribe(wav).text
if lm:
    rec = EdgeRecognizer(offline_model, decoder="beam", beam_size=50, lm=lm, num_threads=1)
    texts[f"{Path(offline_model).stem} beam+LM"] = {utt: rec.transcribe(wav).text for utt, wav in wavs}
rec, step = EdgeRecognizer(stream_model, num_threads=1), int(chunk_ms) * 16
(Path(out) / "fbank").mkdir(exist_ok=True)
for utt, wav in wavs:
    wave = load_audio(wav)
    np.save(Path(out) / "fbank" / f"{utt}.npy", rec.features(wave))
    s = rec.stream()
    for k in range(0, len(wave), step):
        s.accept(wave[k : k + step])
    texts.setdefault(f"{Path(stream_model).stem} EdgeStream, {chunk_ms} ms chunks", {})[utt] = s.finish().text
np.save(Path(out) / "povey_window.npy", s.fbank._window)  # numpy's float32 cos and pow differ per ISA
env = {"machine": platform.machine(), "python": platform.python_version(),
       **{p: version(p) for p in ("numpy", "onnxruntime", "soundfile", "soxr", "flashlight-text")}}
Path(out, "texts.json").write_text(json.dumps({"env": env, "texts": texts}, indent=1))
print(f"{out}: {len(wavs)} utterance(s) on {env['machine']}")
EOF
}

compare() {  # host side: one Markdown table of x86 against aarch64
  python - $out/x86 $out/aarch64 $out/cli_x86.txt $out/cli_aarch64.txt "$(qemu-aarch64 --version | head -n 1)" \
    $qemu_cpu <<'EOF'
import json, sys
from pathlib import Path
import numpy as np

x86, arm, cli_x86, cli_arm = map(Path, sys.argv[1:5])
qemu, cpu = sys.argv[5:7]
a, b = (json.loads((d / "texts.json").read_text()) for d in (x86, arm))
def max_diff(sub):
    files = sorted((x86 / sub).glob("*.npy"))
    return max(float(np.abs(np.load(f) - np.load(arm / sub / f.name)).max()) for f in files)
e = b["env"]
n = len(next(iter(a["texts"].values())))
print(f"{qemu}, `-cpu {cpu}`. Emulated: platform.machine() = `{e['machine']}`, CPython {e['python']}, numpy {e['numpy']}, "
      f"onnxruntime {e['onnxruntime']}, soundfile {e['soundfile']}, soxr {e['soxr']}, "
      f"flashlight-text {e['flashlight-text']} (host x86: `{a['env']['machine']}`, CPython {a['env']['python']}, "
      f"numpy {a['env']['numpy']}, onnxruntime {a['env']['onnxruntime']}); {n} test utterances.\n")
print("| check | x86_64 vs aarch64 |\n|---|---|")
wa, wb = np.load(x86 / "povey_window.npy"), np.load(arm / "povey_window.npy")
print(f"| povey window (float32 cos, pow): values that differ | {(wa != wb).sum()} of {wa.size}, "
      f"max abs diff {np.abs(wa - wb).max():.2g} |")
print(f"| fbank max abs diff | {max_diff('fbank'):.3g} |")
for name in sorted(p.name for p in (x86 / "logits").iterdir()):
    print(f"| logits max abs diff, {name} | {max_diff('logits/' + name):.3g} |")
for k, ref in a["texts"].items():
    print(f"| text, {k}: utterances that differ | {sum(ref[u] != b['texts'][k][u] for u in ref)} of {len(ref)} |")
same = cli_x86.read_text() == cli_arm.read_text() and cli_x86.read_text().strip()
print(f"| `asr-kd-edge transcribe` (one file, `python3.11 -m asr_kd.edge`) | {'same' if same else 'DIFFERENT'} |")
EOF
}

start=$(date +%s)
setup_qemu
setup_sysroot
fake_cpuinfo
setup_site
head -n $utts $data/wav.scp > $out/wav.scp
wav1=$(head -n 1 $out/wav.scp | cut -d' ' -f2)
echo "x86_64 reference (dev venv)"
run_edge py_x86 $out/x86 $out/wav.scp
py_x86 -m asr_kd.edge transcribe --model $offline_model $wav1 > $out/cli_x86.txt
echo "aarch64 under qemu-user"
run_edge py_arm $out/aarch64 $out/wav.scp
py_arm -m asr_kd.edge transcribe --model $offline_model $wav1 > $out/cli_aarch64.txt
{ compare; echo; echo "Wall time: $(( $(date +%s) - start )) s (x86 and aarch64 runs; setup too when $out lacked it)."; } | tee $out/qemu_aarch64.md
