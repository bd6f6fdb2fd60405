from .org import Org, Team, create_org, get_org
from .user import ROLES, User, create_user, get_user, user_by_email, users_by_ids

__all__ = ["ROLES", "Org", "Team", "User", "create_org", "create_user", "get_org", "get_user",
           "user_by_email", "users_by_ids"]
