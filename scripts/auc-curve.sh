#!/usr/bin/env bash
# AUC against training time for one training run (issue 12: "no point below copy-last").
# Exports every epoch snapshot of <run>/snapshots (and the run's chosen weights) to ONNX with the
# kit's own `export`, evaluates each with `eval --json` on <dataset>, and prints one JSON line per
# point: {snapshot, step, seconds, micro_auc, macro_auc, patch_max_micro}. Step 0 is copy-last
# (`eval --baseline copy-last` at the run's grid).
#
# Usage: scripts/auc-curve.sh <run dir> <dataset in the Ped2 layout> [out.jsonl] [every] [epochs|result]
# every: evaluate every n-th epoch snapshot (default 1; the chosen weights always).
# result: instead of the raw weights at each epoch, the recipe's result if training stopped at that
# time: the snapshots/result-SSSSSS weights `train` keeps at each validation step that the
# checkpoint rule chose (from that step until the next such step, `train` would return them; before
# the first, copy-last, the rule's step 0). A step function: one point per change of the result.
# Needs `npm run build` first (it calls dist/ through npx sfn-edge). About 25 s per point here.
set -euo pipefail
run=$1 data=$2 out=${3:-$run/auc-curve.jsonl} every=${4:-1} kind=${5:-epochs}
glob=epoch-; [ "$kind" = result ] && glob=result-
onnx=$run/curve-onnx
mkdir -p "$onnx"
: > "$out"
cfg=$(node -e 'const c=require(process.argv[1]).config;console.log(`${c.width}x${c.height}`)' "$(realpath "$run/weights.json")")
npx sfn-edge eval --baseline copy-last --dataset "$data" --size "$cfg" --json 2>/dev/null |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);console.log(JSON.stringify({snapshot:"copy-last",step:0,seconds:0,micro_auc:r.micro_auc,macro_auc:r.macro_auc,patch_max_micro:r.patch_max?.micro_auc??null}))})' | tee -a "$out"
i=0
for w in "$run"/snapshots/$glob*.json "$run/weights.json"; do
  name=$(basename "$w" .json)
  i=$((i + 1))
  if [ "$name" != weights ] && [ $(((i - 1) % every)) -ne 0 ]; then continue; fi
  npx sfn-edge export --weights "$w" --out "$onnx/$name.onnx" >/dev/null 2>&1
  npx sfn-edge eval --model "$onnx/$name.onnx" --dataset "$data" --providers cpu --json 2>/dev/null |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const r=JSON.parse(s);const m=require(process.argv[1]).meta;console.log(JSON.stringify({snapshot:process.argv[2],step:m.step,seconds:Math.round(m.seconds),micro_auc:r.micro_auc,macro_auc:r.macro_auc,patch_max_micro:r.patch_max?.micro_auc??null}))})' "$(realpath "$w")" "$name" | tee -a "$out"
done
