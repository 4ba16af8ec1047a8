from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..schemas import AwareDateTime, QuerySchema


class HoursArgs(QuerySchema):
    from_ = AwareDateTime(data_key="from", required=True)
    to = AwareDateTime(required=True)
    rotation = fields.String(load_default=None, validate=validate.Length(min=1, max=100))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ValidationError("must be after 'from'", "to")


class HoursOut(Schema):
    person = fields.String()
    rotation = fields.String()
    hours = fields.Float()
    business_hours = fields.Float()
    after_hours = fields.Float()
    weekend_hours = fields.Float()
    holiday_hours = fields.Float()
    pages = fields.Integer()
    night_pages = fields.Integer()
