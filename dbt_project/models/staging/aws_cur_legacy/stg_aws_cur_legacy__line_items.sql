-- Legacy AWS CUR (CSV) line items, renamed and cast by the select the three CUR families share.
{{ stage_aws_cur_line_items(source('aws_cur_legacy', 'line_items'), 'aws_cur_legacy') }}
