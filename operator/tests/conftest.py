"""The operator's tests directory is no package (two packages named `tests` collide in one run);
pytest puts the directory of this conftest on sys.path, so tests in subdirectories (live/) import
the shared helpers (`chatplatform_specs`, `golden_files`) the way the tests here do."""
