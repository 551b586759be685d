"""A stand-in for "your application", for the commands and imports of the documentation:
`proletarian worker myapp.jobs:handlers`, `from myapp.signup import sign_up`, ..."""
