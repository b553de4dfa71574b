from django.core.paginator import Paginator
from django.db.models import Count, QuerySet, Window
from rest_framework.pagination import PageNumberPagination

TOTAL = "_page_total"
# An OFFSET beyond this overflows the database's 64-bit integers.
MAX_PAGE = 2**40


class OneQueryPaginator(Paginator):
    """Reads a page's rows and the total count in one query (`count(*) OVER ()`).

    A list answer needs both; a separate COUNT was a quarter of its database time. Pages
    past the end, distinct or grouped querysets take Django's usual two queries.
    """

    def page(self, number):
        rows = self._rows_with_total(number)
        if rows is None:
            return super().page(number)
        self.count = getattr(rows[0], TOTAL)  # fills the cached property
        return self._get_page(rows, int(number), self)

    def _rows_with_total(self, number):
        queryset = self.object_list
        if (
            not isinstance(queryset, QuerySet)
            or "count" in self.__dict__
            or self.orphans
            or queryset.query.distinct
            or queryset.query.group_by is not None
        ):
            return None
        try:
            number = int(number)
        except (TypeError, ValueError):
            return None  # Django's own checks answer with the error
        if number < 1 or number > MAX_PAGE:
            return None  # Django's checks answer (a page past the end is not found)
        bottom = (number - 1) * self.per_page
        window = queryset.annotate(**{TOTAL: Window(Count("pk"))})
        return list(window[bottom : bottom + self.per_page]) or None


class PagePagination(PageNumberPagination):
    django_paginator_class = OneQueryPaginator
