from cases.errors import Conflict


class NotClaimed(Conflict):
    code = "not_claimed"


class LeaseExpired(Conflict):
    code = "lease_expired"


class CaseAlreadyDecided(Conflict):
    code = "already_decided"
