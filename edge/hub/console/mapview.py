"""(placeholder)"""
from fastapi import APIRouter

router = APIRouter(prefix="/console", include_in_schema=False)
