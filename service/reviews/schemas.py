from __future__ import annotations

from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..schemas import AwareDateTime, StrictSchema

HANDLE = validate.Length(min=1, max=64)
ACTION = validate.Length(min=1, max=2000)
OWNER = {"description": "a person's handle; a person who does not exist is a 422"}
MARKDOWN = validate.Length(min=1, max=500_000)


class ActionCreate(StrictSchema):
    action = fields.String(required=True, validate=ACTION)
    owner = fields.String(allow_none=True, load_default=None, validate=HANDLE, metadata=OWNER)
    due_date = fields.Date(allow_none=True, load_default=None)


class ActionPatch(StrictSchema):
    action = fields.String(validate=ACTION)
    owner = fields.String(allow_none=True, validate=HANDLE, metadata=OWNER)
    due_date = fields.Date(allow_none=True)
    done = fields.Boolean()


class ActionOut(Schema):
    number = fields.Integer()
    action = fields.String()
    owner = fields.Function(lambda item: item.owner.handle if item.owner else None)
    owner_name = fields.Function(lambda item: item.owner.name if item.owner else None)
    due_date = fields.Date(allow_none=True)
    done = fields.Boolean()
    done_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    created_by = fields.String()
    updated_at = AwareDateTime()


class ReviewIn(StrictSchema):
    start = AwareDateTime(required=True, metadata={"description": "in the future"})
    end = AwareDateTime(metadata={"description": "after start, at most 8 hours later; default: one hour after start"})
    attendees = fields.List(fields.String(validate=HANDLE), validate=validate.Length(max=100),
                            metadata={"description": "person handles (each must exist); default: the "
                                                     "current attendees (the role owners when first booked)"})

    @validates_schema
    def _order(self, data, **_):
        end = data.get("end")
        if end is not None and end <= data["start"]:
            raise ValidationError("must be after start", "end")
        if end is not None and end - data["start"] > timedelta(hours=8):
            raise ValidationError("a review meeting lasts at most 8 hours", "end")


class AttendeeOut(Schema):
    person = fields.String()
    name = fields.String()
    email = fields.String()


class ReviewOut(Schema):
    uid = fields.String()
    start = AwareDateTime()
    end = AwareDateTime()
    attendees = fields.List(fields.Nested(AttendeeOut))
    sequence = fields.Integer()
    status = fields.String(metadata={"description": "scheduled | cancelled | done"})
    done = fields.Boolean()
    done_at = AwareDateTime(allow_none=True)
    within_deadline = fields.Boolean()
    postmortem_due_at = AwareDateTime(allow_none=True)
    booked_by = fields.String()
    updated_at = AwareDateTime()


class PostmortemIn(StrictSchema):
    markdown = fields.String(required=True, validate=MARKDOWN)


class PostmortemOut(Schema):
    markdown = fields.String()
    source = fields.String(metadata={"description": "draft (from what Herald recorded) | edited (stored by PUT)"})
    updated_at = AwareDateTime(allow_none=True)
    updated_by = fields.String(allow_none=True)
