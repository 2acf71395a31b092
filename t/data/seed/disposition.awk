 /logterse/ { svc=$6; count[svc]++; count["Total"]++; }  END  \
{ for (j in count) print count[j] "\t" j; }
