"""A corpus of Chaos Toolkit experiments, each run with `chaos run` and `drill run`.

Written for this project in the styles public Chaos Toolkit experiment libraries use
(see README.md here). ``acts`` holds the python activities, ``controls`` the controls,
``httpd`` a loopback HTTP service for the http provider.
"""
