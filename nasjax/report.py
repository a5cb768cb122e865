"""``python -m nasjax.report SWEEP_DIR`` (or ``RUN_DIR``): alias of
:mod:`nasjax.app.report`.

Importing this module is deprecated (use :mod:`nasjax.app.report`); running
it keeps working.
"""

if __name__ == "__main__":
    from nasjax.app.report import main

    main()
else:
    from nasjax._deprecated import moved

    __getattr__ = moved("nasjax.report", "nasjax.app.report")
