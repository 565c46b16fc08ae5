"""Company X, the case study as a runnable demo.

Company X's account owner stops sharing one all-powerful key: employees A–E and the application ``app`` get
RAM users, groups mirror the departments (HR, R&D, O&M), permissions come from system policies plus one
custom policy (R&D may use OSS only from the office network in working hours), contractors get short-lived
STS credentials, and the root identity rests behind MFA with no AccessKey.

``python -m examples.company_x serve --store … --host … --port …`` runs the protected demo APIs
(:mod:`.app`): ECS-like, RDS-like and OSS-like RPC APIs plus OSS REST paths, behind the ASGI middleware.
``python -m examples.company_x walkthrough`` (:mod:`.walkthrough`) replays the six steps with real signed
HTTP requests against ``ram serve`` and the demo server, and prints who asked for what and what was
decided, and why.
"""
