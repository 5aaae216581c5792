"""Commands: one module per console command (``simplenet-<name>``, see pyproject.toml), each
with ``main(argv)`` (argument wiring; the work is in data, nets and runs) and ``entry()``.
tools/<name>.py and data_prep/<name>.py run the same code (data_prep/X is ``prep_X`` here).

May import anything in simplenet_caffe; nothing imports commands.
"""
