"""Profiles: the one file a user writes."""

from builder.profile.loader import LoadedProfile, ProfileError, load, shipped_profiles

__all__ = ["LoadedProfile", "ProfileError", "load", "shipped_profiles"]
