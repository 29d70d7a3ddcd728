"""The operator verbs of the ``devuc`` command: ``account``, ``user``, ``group``, ``key``
(identity), ``project``, ``member``, ``role`` (CodeArts). They work on the local store through
the service functions the HTTP routes call; :mod:`devuc.opcli` is their shared plumbing and
``docs/cli.md`` their manual."""

import typer


def register(app: typer.Typer) -> None:
    """Mount every operator sub-command on the main ``devuc`` app."""
    from .codearts import member_app, project_app, role_app
    from .iam import account_app, group_app, key_app, user_app

    for name, sub in (
        ("account", account_app), ("user", user_app), ("group", group_app), ("key", key_app),
        ("project", project_app), ("member", member_app), ("role", role_app),
    ):
        app.add_typer(sub, name=name)
