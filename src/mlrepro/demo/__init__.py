"""``mlrepro demo``: a small team project, its runs and its mistakes, built for real in a fresh
directory and then linted, audited, reproduced and reported.

``project`` lays out the files (``skeleton/``) and the git repository with its local
"origin"; ``training`` starts the project's scripts as real subprocesses; ``scenario`` says
which runs to make, in which order, and runs the checks. Nothing here prints.
"""
