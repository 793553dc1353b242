"""Subjects (enrolled people) and their face templates."""
