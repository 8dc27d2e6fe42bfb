module fund.local/ccaas-builder

go 1.21
