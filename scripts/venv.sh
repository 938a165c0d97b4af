# Sourced by demo.sh and test.sh: make .venv (with $PYTHON, default python3) and install
# the project into it with the pip arguments given, e.g. `install_into_venv -e ".[test]"`.
install_into_venv() {
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  .venv/bin/pip install --quiet --upgrade pip
  .venv/bin/pip install --quiet "$@"
}
