-- AWS CUR 2.0 (Data Exports) line items, renamed and cast by the select the three CUR families share.
{{ stage_aws_cur_line_items(source('aws_cur2', 'line_items'), 'aws_cur2') }}
