"""``hydra/sweeper=nasjax_optuna``: Optuna's TPE over the swept keys of a
``--multirun`` (:mod:`hydra_plugins.nasjax_optuna_sweeper.sweeper`)."""
