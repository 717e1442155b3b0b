"""Feeds that bring inputs in unattended: a watched drop folder (`takeback watch`, watch.py) and the worker's
POST /eras and /bank-files (http.py). Both publish through delivery.py, exactly once, onto the topics `takeback
publish` uses."""
