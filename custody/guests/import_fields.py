"""The vocabulary of a PMS stay export: the fields a column can be mapped to, their header names in English and
Chinese, and what a PMS may write for each coded value (sex, document type, status, channel).

Header names and coded values are compared after ``key()``: NFKC, no case, no spaces or punctuation, so "Check-in
date", "check_in_date" and "CHECK IN DATE" are one name. See docs/import.md for the table.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from custody.guests.models import Channel, DocumentType, Sex, StayStatus


@dataclass(frozen=True)
class ImportField:
    """A field a column can be mapped to: where it goes (guest, document or stay) and under which vault name."""

    name: str
    label: Promise
    part: str  # "guest", "document" or "stay"
    target: str  # the vault's name of the field
    aliases: tuple[str, ...]
    kind: str = "text"  # text, phone, email, number, reference, choice, date, stay_date, room
    required: bool = False


FIELDS: tuple[ImportField, ...] = (
    ImportField("surname", _("Surname"), "guest", "surname",
                ("surname", "last name", "family name", "姓", "姓氏"), required=True),
    ImportField("second_surname", _("Second surname"), "guest", "second_surname",
                ("second surname", "second last name", "segundo apellido", "第二姓氏")),
    ImportField("given_names", _("Given names"), "guest", "given_names",
                ("given names", "given name", "first name", "first names", "forename", "名", "名字")),
    ImportField("sex", _("Sex"), "guest", "sex", ("sex", "gender", "性别"), kind="choice"),
    ImportField("date_of_birth", _("Date of birth"), "guest", "date_of_birth",
                ("date of birth", "birth date", "birthdate", "dob", "birthday", "出生日期", "生日"), kind="date"),
    ImportField("nationality", _("Nationality"), "guest", "nationality", ("nationality", "citizenship", "国籍")),
    ImportField("address", _("Address"), "guest", "address", ("address", "home address", "地址", "住址")),
    ImportField("phone", _("Phone"), "guest", "phone",
                ("phone", "telephone", "mobile", "phone number", "电话", "手机", "手机号", "联系电话"), kind="phone"),
    ImportField("email", _("E-mail"), "guest", "email",
                ("email", "e-mail", "email address", "mail", "邮箱", "电子邮件", "电子邮箱"), kind="email"),
    ImportField("preferences", _("Preferences"), "guest", "preferences", ("preferences", "偏好", "客人偏好")),
    ImportField("special_needs", _("Special needs"), "guest", "special_needs",
                ("special needs", "accessibility", "特殊需要", "特殊需求")),
    ImportField("notes", _("Notes"), "guest", "notes", ("notes", "guest notes", "备注")),
    ImportField("doc_type", _("Document type"), "document", "doc_type",
                ("document type", "doc type", "id type", "证件类型"), kind="choice"),
    ImportField("doc_number", _("Document number"), "document", "number",
                ("document number", "doc number", "id number", "passport number", "证件号码", "证件号", "身份证号",
                 "身份证号码", "护照号码"), kind="number"),
    ImportField("issuing_country", _("Issuing country"), "document", "issuing_country",
                ("issuing country", "country of issue", "issuing state", "签发国", "签发国家", "发证国家")),
    ImportField("doc_issue_date", _("Document issue date"), "document", "issue_date",
                ("issue date", "document issue date", "date of issue", "签发日期"), kind="date"),
    ImportField("doc_expiry", _("Document expiry date"), "document", "expiry_date",
                ("expiry date", "document expiry", "doc expiry", "expiry", "expiration date", "date of expiry",
                 "有效期", "有效期至", "证件有效期"), kind="date"),
    ImportField("booking_reference", _("Booking reference"), "stay", "booking_reference",
                ("booking reference", "booking ref", "booking number", "booking id", "reservation number",
                 "reservation id", "confirmation number", "预订号", "预订单号", "订单号"), kind="reference",
                required=True),
    ImportField("room", _("Room"), "stay", "room", ("room", "room number", "room no", "房号", "房间号"), kind="room"),
    ImportField("check_in", _("Check-in date"), "stay", "check_in_planned",
                ("check in", "check in date", "arrival", "arrival date", "入住日期", "入住时间", "到店日期",
                 "抵店日期"), kind="stay_date", required=True),
    ImportField("check_out", _("Check-out date"), "stay", "check_out_planned",
                ("check out", "check out date", "departure", "departure date", "离店日期", "离店时间", "退房日期"),
                kind="stay_date", required=True),
    ImportField("status", _("Status"), "stay", "status", ("status", "stay status", "booking status", "状态"),
                kind="choice"),
    ImportField("channel", _("Channel"), "stay", "channel",
                ("channel", "source", "booking channel", "booking source", "渠道", "来源", "预订渠道"), kind="choice"),
    ImportField("special_requests", _("Special requests"), "stay", "special_requests",
                ("special requests", "requests", "特殊要求")),
)  # fmt: skip
FIELD_BY_NAME = {f.name: f for f in FIELDS}
REQUIRED_FIELDS = tuple(f.name for f in FIELDS if f.required)


def key(text: str) -> str:
    """How header names and coded values are compared: NFKC, no case, no spaces or punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if c.isalnum())


ALIASES = {key(alias): f.name for f in FIELDS for alias in (f.name, *f.aliases)}

# Coded values: what a PMS may write for each of our codes (compared like header names).
CHOICES: dict[str, dict[str, str]] = {
    "sex": {
        **{v: v for v in Sex.values},
        "female": Sex.FEMALE, "woman": Sex.FEMALE, "女": Sex.FEMALE, "女性": Sex.FEMALE,
        "male": Sex.MALE, "man": Sex.MALE, "男": Sex.MALE, "男性": Sex.MALE,
        "other": Sex.OTHER, "unspecified": Sex.OTHER, "其他": Sex.OTHER,
    },
    "doc_type": {
        **{v: v for v in DocumentType.values},
        "id": DocumentType.NATIONAL_ID, "id card": DocumentType.NATIONAL_ID, "identity card": DocumentType.NATIONAL_ID,
        "national id card": DocumentType.NATIONAL_ID, "身份证": DocumentType.NATIONAL_ID,
        "居民身份证": DocumentType.NATIONAL_ID, "护照": DocumentType.PASSPORT,
        "residence card": DocumentType.RESIDENCE_PERMIT, "居留证": DocumentType.RESIDENCE_PERMIT,
        "居留许可": DocumentType.RESIDENCE_PERMIT, "外国人永久居留身份证": DocumentType.RESIDENCE_PERMIT,
        "其他": DocumentType.OTHER, "其他证件": DocumentType.OTHER,
    },
    "status": {
        **{v: v for v in StayStatus.values},
        "reserved": StayStatus.BOOKED, "confirmed": StayStatus.BOOKED, "reservation": StayStatus.BOOKED,
        "预订": StayStatus.BOOKED, "已预订": StayStatus.BOOKED, "预定": StayStatus.BOOKED,
        "checked in": StayStatus.IN_HOUSE, "inhouse": StayStatus.IN_HOUSE, "在住": StayStatus.IN_HOUSE,
        "已入住": StayStatus.IN_HOUSE, "入住": StayStatus.IN_HOUSE,
        "departed": StayStatus.CHECKED_OUT, "离店": StayStatus.CHECKED_OUT, "已离店": StayStatus.CHECKED_OUT,
        "已退房": StayStatus.CHECKED_OUT, "退房": StayStatus.CHECKED_OUT,
        "canceled": StayStatus.CANCELLED, "取消": StayStatus.CANCELLED, "已取消": StayStatus.CANCELLED,
        "noshow": StayStatus.NO_SHOW, "未到": StayStatus.NO_SHOW, "未到店": StayStatus.NO_SHOW,
    },
    "channel": {
        **{v: v for v in Channel.values},
        "walkin": Channel.WALK_IN, "散客": Channel.WALK_IN, "上门": Channel.WALK_IN, "直接": Channel.DIRECT,
        "直订": Channel.DIRECT, "telephone": Channel.PHONE, "电话": Channel.PHONE, "邮件": Channel.EMAIL,
        "mail": Channel.EMAIL, "web": Channel.WEBSITE, "hotel website": Channel.WEBSITE, "官网": Channel.WEBSITE,
        "online travel agency": Channel.OTA, "在线旅行社": Channel.OTA, "travel agency": Channel.TRAVEL_AGENT,
        "旅行社": Channel.TRAVEL_AGENT, "company": Channel.CORPORATE, "协议": Channel.CORPORATE,
        "公司": Channel.CORPORATE, "企业": Channel.CORPORATE, "团队": Channel.GROUP, "团体": Channel.GROUP,
        "其他": Channel.OTHER,
    },
}  # fmt: skip
CHOICE_KEYS = {name: {key(alias): code for alias, code in table.items()} for name, table in CHOICES.items()}
DEFAULTS = {"status": StayStatus.BOOKED, "channel": Channel.OTHER}
