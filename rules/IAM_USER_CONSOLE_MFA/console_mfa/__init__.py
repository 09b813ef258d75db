"""Engine of the IAM_USER_CONSOLE_MFA rule.

Pure decision (``decision``), rule parameters (``policy``), fact collectors (``live``,
``report``, ``sweep``) and the boto3 wiring (``aws``). It ships inside the rule folder
because ``rdk deploy`` zips only that folder into the Lambda.
"""
