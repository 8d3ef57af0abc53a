"""Project settings: config loader, hooks."""



HOOKS: tuple = ()

CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
}
