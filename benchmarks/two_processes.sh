#!/usr/bin/env bash
# One CLI sweep run two ways on one machine: 1 process x 2 CPU devices, and 2 processes x 1 CPU
# device joined by jax.distributed (gloo, coordinator on localhost). Prints both wall times and
# whether the two JSON results are bit-equal. Run from the repository root with the project
# installed:  bash benchmarks/two_processes.sh   (about 2 minutes on 2 cores)
set -euo pipefail
ARGS="sweep moons --optimizer sgd,adam --lr 1e-3:10:256 --seeds 8 --no-progress"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=$(python -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
start=$(date +%s.%N)
jaxopt-lessons $ARGS --devices 2 --out "$work/one.json" > "$work/one.txt"
echo "1 process x 2 devices:  $(python -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
start=$(date +%s.%N)
jaxopt-lessons $ARGS --devices 1 --coordinator "localhost:$port" --num-processes 2 --process-id 1 > /dev/null 2>&1 &
jaxopt-lessons $ARGS --devices 1 --coordinator "localhost:$port" --num-processes 2 --process-id 0 --out "$work/two.json" \
    > "$work/two.txt" 2> /dev/null
wait
echo "2 processes x 1 device: $(python -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
python - "$work/one.json" "$work/two.json" <<'PY'
import sys
import jax
import numpy as np
import jaxopt_lessons as jl
one, two = (jl.SweepResult.from_json(path) for path in sys.argv[1:])
fields = ("learning_rates", "seeds", "losses", "final_loss", "status", "diverged_at")
same = [np.asarray(getattr(one, f)).tobytes() == np.asarray(getattr(two, f)).tobytes() for f in fields]
same += [np.asarray(a).tobytes() == np.asarray(b).tobytes()
         for a, b in zip(jax.tree_util.tree_leaves(one.params), jax.tree_util.tree_leaves(two.params))]
print(f"{one.n_lanes} lanes; every field and parameter bit-equal: {all(same)}")
PY
