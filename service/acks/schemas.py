from marshmallow import Schema, fields


class ReceivedOut(Schema):
    outcome = fields.String(metadata={"description": "acknowledged | already_acknowledged | not_applied | "
                                                     "not_a_command | rejected_sender | automatic | unmatched | "
                                                     "question (a stakeholder's reply to an update that is not "
                                                     "an ack) | swap_accepted | swap_declined | swap_refused"})
    detail = fields.String()
    incident = fields.String(allow_none=True, metadata={"description": "the incident number it matched"})
    duplicate = fields.Boolean(metadata={"description": "true when this message had been received before"})
