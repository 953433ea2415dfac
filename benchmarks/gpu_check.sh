#!/usr/bin/env bash
# Device check on a CUDA machine (not part of CI): the CUDA tests, `prunegap popup --device cuda`,
# and edge-popup seconds per epoch on the CPU and on the GPU, measured in the same run.
#   bash benchmarks/gpu_check.sh            (results and logs in $OUT, default /tmp/gpu_check)
# Packages the machine lacks may travel as wheels in .whl/ (see BENCHMARKS.md).
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 MPLBACKEND=Agg
nvidia-smi -L
python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))"

echo "== tests (torch files; the CUDA ones run here)"
timeout 300 python3 -m pytest -q -p no:cacheprovider -n 8 -rs tests/test_popup.py tests/test_popup_sweep.py tests/test_torch_export.py 2>&1 | tail -15

echo "== CLI on cuda"
python3 -c "import sys; from prunegap.cli import main; sys.exit(main(sys.argv[1:]))" popup --dataset digits --paradigm weight \
  --width 256 --density 0.5 --seed 0 --epochs 5 --device cuda --out /tmp/cli_cuda --json > /tmp/cli_cuda.json
echo "exit $?"; python3 -c "import json; r = json.load(open('/tmp/cli_cuda.json')); print({k: r[k] for k in ('device', 'test_accuracy', 'seconds_per_epoch')})"
python3 -c "import sys; from prunegap.cli import main; sys.exit(main(sys.argv[1:]))" popup --dataset digits --paradigm weight \
  --width 8 --density 0.5 --seed 0 --epochs 1 --device cuda:7 --out /tmp/bad 2>&1; echo "exit $? (2 expected: no cuda:7)"

echo "== edge-popup seconds per epoch, cpu (all cores) and cuda, same run"
for width in 1024 16384; do
  for dev in cpu cuda; do
    for dtype in float64 float32; do
      echo "-- width $width  $dev  $dtype"
      timeout 120 python3 benchmarks/bench_popup.py --seeds 1 --epochs 5 --width "$width" --device "$dev" --dtype "$dtype" \
        --json "$OUT/popup_${width}_${dev}_${dtype}.json" 2>&1 | grep -E '^\| [a-z]|machine'
    done
  done
done
